/**
 * Splits server-sent-event text into whole events as chunks arrive, whatever the chunk borders.
 * An event is returned verbatim, terminating blank line included, so forwarding the pieces
 * reproduces the input exactly. Lines may end in LF, CRLF or CR (the SSE spec allows all three).
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
  let scanFrom = 0; // where to resume looking for a line end

  return {
    push(text) {
      buffer += text;
      const events: string[] = [];
      for (;;) {
        let end = scanFrom;
        while (end < buffer.length && buffer[end] !== '\n' && buffer[end] !== '\r') end++;
        if (end >= buffer.length) {
          scanFrom = end;
          break;
        }
        // A CR at the end of the text may be the first half of a CRLF: wait for the next chunk.
        if (buffer[end] === '\r' && end + 1 >= buffer.length) {
          scanFrom = end;
          break;
        }
        const next = buffer[end] === '\r' && buffer[end + 1] === '\n' ? end + 2 : end + 1;
        if (end === lineStart) {
          events.push(buffer.slice(0, next));
          buffer = buffer.slice(next);
          lineStart = 0;
          scanFrom = 0;
        } else {
          lineStart = next;
          scanFrom = next;
        }
      }
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
