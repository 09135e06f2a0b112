/**
 * Server-sent-event text, read the one way the SSE spec allows: a line ends in LF, CRLF or a lone
 * CR, and a CR that ends a chunk may be the first half of a CRLF split across chunks. The engine's
 * metering (whole events) and the client's trailer reader (lines) both read through here.
 */

/**
 * Where the line that `text` holds from `from` on ends: `end` is the index of its line end and
 * `next` where the following line starts. `undefined` when no line end is in the text yet, or when
 * the text ends in a CR that may be followed by an LF in the next chunk (`final` says there is none).
 */
export function lineEnd(text: string, from: number, final = false): { end: number; next: number } | undefined {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  if (cr === -1 || (lf !== -1 && lf < cr)) return lf === -1 ? undefined : { end: lf, next: lf + 1 };
  if (cr + 1 < text.length) return { end: cr, next: text.charCodeAt(cr + 1) === 0x0a ? cr + 2 : cr + 1 };
  return final ? { end: cr, next: cr + 1 } : undefined;
}

/** Splits SSE text into lines as chunks arrive, whatever the chunk borders and line ends. */
export class SseLineReader {
  private buffer = '';

  /** Text of a line not yet ended (empty between lines). */
  get pending(): string {
    return this.buffer;
  }

  /** Adds text and returns the lines it completed, without their line ends. */
  push(text: string): string[] {
    const buffer = this.buffer + text;
    const lines: string[] = [];
    let start = 0;
    for (let at = lineEnd(buffer, 0); at; at = lineEnd(buffer, start)) {
      lines.push(buffer.slice(start, at.end));
      start = at.next;
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start);
    return lines;
  }

  /** The stream has ended: the lines still held (a CR-ended one, an unfinished last one). */
  end(): string[] {
    const buffer = this.buffer;
    this.buffer = '';
    const lines: string[] = [];
    let start = 0;
    for (let at = lineEnd(buffer, 0, true); at; at = lineEnd(buffer, start, true)) {
      lines.push(buffer.slice(start, at.end));
      start = at.next;
    }
    if (start < buffer.length) lines.push(buffer.slice(start));
    return lines;
  }
}

/**
 * Splits server-sent-event text into whole events as chunks arrive, whatever the chunk borders.
 * An event is returned verbatim, terminating blank line included, so forwarding the pieces
 * reproduces the input exactly.
 */
export interface EventSplitter {
  /** Adds text and returns the events it completed. */
  push(text: string): string[];
  /** Text of an unfinished event, for when the stream ends without a final blank line. */
  rest(): string;
}

export function createEventSplitter(): EventSplitter {
  let buffer = '';
  let lineStart = 0; // where the line being scanned starts
  let scanFrom = 0; // where to resume looking for a line end: a long line is not scanned again per chunk

  return {
    push(text) {
      buffer += text;
      const events: string[] = [];
      for (let at = lineEnd(buffer, scanFrom); at; at = lineEnd(buffer, scanFrom)) {
        if (at.end === lineStart) {
          // A blank line: the event ends here.
          events.push(buffer.slice(0, at.next));
          buffer = buffer.slice(at.next);
          lineStart = 0;
        } else {
          lineStart = at.next;
        }
        scanFrom = lineStart;
      }
      // A CR at the end may be the first half of a CRLF: look at it again with the next chunk.
      scanFrom = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      return events;
    },
    rest() {
      const rest = buffer;
      buffer = '';
      lineStart = 0;
      scanFrom = 0;
      return rest;
    },
  };
}

/** The `event` and joined `data` fields of one raw event; `data` is undefined when it has none. */
export function parseEvent(raw: string): { event: string | undefined; data: string | undefined } {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of raw.split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'event') event = value;
  }
  return { event, data };
}
