import { canonicalField, isValidFieldName, RESERVED_NAMES, WELL_KNOWN_FIELDS, type FieldRecord } from './fields.js';
import { TokenlayHeaderError } from '../errors.js';
import { HEADER_PREFIX } from './names.js';

export { HEADER_PREFIX };
/** Longest value, in characters, that one field may carry (docs/protocol.md §1). */
export const MAX_VALUE_CHARS = 256;
/** Largest size, in bytes, of all attribution headers together (docs/protocol.md §1). */
export const MAX_HEADERS_BYTES = 8 * 1024;

export { decodeHeaderValue, encodeHeaderValue } from './encoding.js';
import { decodeHeaderValue, encodeHeaderValue } from './encoding.js';

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function charCount(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/**
 * Turns fields into `x-tokenlay-<field>` headers, refusing values that the protocol does not
 * allow before anything is sent.
 *
 * @throws {TokenlayHeaderError} a field name is invalid, a value is not well-formed Unicode (a lone
 * surrogate) or over 256 characters, or all headers together are over 8 KiB.
 */
export function fieldsToHeaders(fields: FieldRecord): Record<string, string> {
  const headers: Record<string, string> = {};
  let total = 0;
  for (const rawName in fields) {
    const value = fields[rawName];
    if (value === undefined || !Object.hasOwn(fields, rawName)) continue;
    const headerName = headerNameOf(rawName);
    // Most ids are short printable ASCII: sent as they are, with no surrogate to find and one
    // character per code unit.
    const encoded = value.length <= MAX_VALUE_CHARS && isPlainValue(value) ? value : checkedValue(headerName.slice(HEADER_PREFIX.length), value);
    headers[headerName] = encoded;
    total += headerName.length + encoded.length;
    if (total > MAX_HEADERS_BYTES) {
      throw new TokenlayHeaderError(
        `tokenlay: attribution headers reached ${total} bytes at field "${headerName.slice(HEADER_PREFIX.length)}"; the limit is ${MAX_HEADERS_BYTES} bytes (8 KiB) for all fields together. ` +
          `Send fewer or shorter fields.`,
        { field: headerName.slice(HEADER_PREFIX.length), limit: 'total' },
      );
    }
  }
  return headers;
}

// Field names are few and the same on every call: each is checked once, then found here.
const HEADER_NAMES = new Map<string, string>();
const MAX_KNOWN_NAMES = 1024;

/** `x-tokenlay-<canonical name>` for a field name, or a TokenlayHeaderError when it cannot be sent. */
function headerNameOf(rawName: string): string {
  const known = HEADER_NAMES.get(rawName);
  if (known !== undefined) return known;
  const name = canonicalField(rawName);
  if (!isValidFieldName(name)) {
    throw new TokenlayHeaderError(
      `tokenlay: field name ${JSON.stringify(rawName)} cannot be sent: names are lower-case [a-z0-9_-], at most 64 characters, ` +
        `and not one of ${[...RESERVED_NAMES].join(', ')}. Rename the field.`,
      { field: rawName, limit: 'name' },
    );
  }
  const headerName = HEADER_PREFIX + name;
  if (HEADER_NAMES.size < MAX_KNOWN_NAMES) HEADER_NAMES.set(rawName, headerName);
  return headerName;
}

/** Printable ASCII without `%`: what {@link encodeHeaderValue} leaves as it is. */
function isPlainValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x25) return false;
  }
  return true;
}

/** A value that is not short plain ASCII, checked (well-formed, at most 256 characters) and encoded. */
function checkedValue(name: string, value: string): string {
  const lone = LONE_SURROGATE.exec(value);
  if (lone) {
    // UTF-8 has no bytes for a lone surrogate: encoding would turn every one into U+FFFD, and
    // distinct ids into one counter.
    const code = lone[0].charCodeAt(0).toString(16).toUpperCase();
    throw new TokenlayHeaderError(
      `tokenlay: field "${name}" is not well-formed Unicode: a lone surrogate \\u${code} at index ${lone.index}. ` +
        `Send the id as well-formed text (a string cut in the middle of an emoji, or bytes decoded as UTF-16, leave one).`,
      { field: name, limit: 'encoding' },
    );
  }
  const chars = charCount(value);
  if (chars > MAX_VALUE_CHARS) {
    throw new TokenlayHeaderError(
      `tokenlay: field "${name}" is ${chars} characters long; the limit is ${MAX_VALUE_CHARS} characters per value. ` +
        `Send a shorter id (a hash or a database key) instead of the full value.`,
      { field: name, limit: 'value' },
    );
  }
  return encodeHeaderValue(value);
}

/** Anything a header set may arrive as: a `Headers`, a Node header object, or pairs. */
export type HeaderSource =
  | Headers
  | Iterable<[string, string]>
  | Record<string, string | string[] | number | undefined | null>;

function entriesOf(source: HeaderSource): Iterable<[string, unknown]> {
  if (typeof (source as Headers).forEach === 'function' && typeof (source as Headers).get === 'function') {
    return (source as Headers).entries();
  }
  if (Symbol.iterator in (source as object)) return source as Iterable<[string, string]>;
  return Object.entries(source);
}

/**
 * Reads attribution fields from request headers: `x-tokenlay-<field>` (decoded, aliases folded),
 * then bare `user`, `org`, `plan`, `project`, `feature` where no prefixed header names that field.
 */
export function headersToFields(source: HeaderSource, options: { bare?: boolean } = {}): FieldRecord {
  const fields: FieldRecord = {};
  let bare: FieldRecord | undefined;
  for (const [rawName, rawValue] of entriesOf(source)) {
    if (rawValue === undefined || rawValue === null) continue;
    const lower = rawName.toLowerCase();
    if (lower.startsWith(HEADER_PREFIX)) {
      const name = fieldOfHeader(lower);
      if (name === undefined) continue;
      // The canonical spelling wins over an alias when both arrive.
      if (fields[name] !== undefined && lower.slice(HEADER_PREFIX.length) !== name) continue;
      fields[name] = decodeHeaderValue(Array.isArray(rawValue) ? rawValue.join(', ') : String(rawValue));
    } else if (options.bare && BARE_FIELDS.has(lower)) {
      (bare ??= {})[lower] = decodeHeaderValue(Array.isArray(rawValue) ? rawValue.join(', ') : String(rawValue));
    }
  }
  if (bare) for (const [name, value] of Object.entries(bare)) if (fields[name] === undefined) fields[name] = value;
  return fields;
}

const BARE_FIELDS: ReadonlySet<string> = new Set(WELL_KNOWN_FIELDS);
// `x-tokenlay-<name>` → the canonical field name, or null for a name that is not a field; each
// header name is worked out once (the same few arrive on every call), up to a bound.
const FIELD_OF_HEADER = new Map<string, string | null>();

function fieldOfHeader(lowerHeader: string): string | undefined {
  let name = FIELD_OF_HEADER.get(lowerHeader);
  if (name === undefined) {
    const canonical = canonicalField(lowerHeader.slice(HEADER_PREFIX.length));
    name = isValidFieldName(canonical) ? canonical : null;
    if (FIELD_OF_HEADER.size < MAX_KNOWN_NAMES) FIELD_OF_HEADER.set(lowerHeader, name);
  }
  return name ?? undefined;
}
