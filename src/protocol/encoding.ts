/**
 * The encoding of text in tokenlay headers (docs/protocol.md §1): field values and report text.
 * No imports, so that every module (errors included) can decode a header without a cycle.
 */

const encoder = new TextEncoder();
const HEX = '0123456789ABCDEF';

/**
 * Percent-encodes every byte outside printable ASCII (0x21–0x7E), and `%` itself, so that any
 * UTF-8 value is a legal header value and CR, LF or NUL can never become header syntax.
 */
export function encodeHeaderValue(value: string): string {
  // Fast path: most ids are plain ASCII and need no work.
  let plain = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return value;
  let out = '';
  for (const byte of encoder.encode(value)) {
    if (byte >= 0x21 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += '%' + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}

/** Reverses {@link encodeHeaderValue}; a malformed escape is kept as it is. */
export function decodeHeaderValue(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}
