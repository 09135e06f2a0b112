import { describe, expect, it } from 'vitest';
import { createEventSplitter, lineEnd, parseEvent, SseLineReader } from '../../src/protocol/sse.js';

const LINES = ['data: {"a":1}', '', ': x-tokenlay {"cost":1}', '', 'data: [DONE]', ''];

/** Every way to cut `text` in two, fed to `read` piece by piece. */
function everyCut<T>(text: string, read: (pieces: string[]) => T): T[] {
  const out: T[] = [];
  for (let at = 0; at <= text.length; at++) out.push(read([text.slice(0, at), text.slice(at)]));
  return out;
}

describe('the one SSE line reader', () => {
  for (const [name, end] of [['LF', '\n'], ['CRLF', '\r\n'], ['CR', '\r']] as const) {
    it(`splits lines ending in ${name} the same wherever the chunks are cut`, () => {
      const text = LINES.join(end);
      for (const lines of everyCut(text, (pieces) => {
        const reader = new SseLineReader();
        const got = pieces.flatMap((p) => reader.push(p));
        return [...got, ...reader.end()];
      })) {
        expect(lines).toEqual(LINES.slice(0, -1));
      }
    });

    it(`splits events ending in ${name} verbatim wherever the chunks are cut`, () => {
      const text = LINES.join(end);
      for (const events of everyCut(text, (pieces) => {
        const splitter = createEventSplitter();
        return pieces.flatMap((p) => splitter.push(p)).concat(splitter.rest() || []);
      })) {
        expect(events.join('')).toBe(text);
        expect(events.map((e) => parseEvent(e).data)).toEqual(['{"a":1}', undefined, '[DONE]']);
      }
    });
  }

  it('holds a CR at the end of a chunk until it knows whether an LF follows', () => {
    expect(lineEnd('data: x\r', 0)).toBeUndefined();
    expect(lineEnd('data: x\r', 0, true)).toEqual({ end: 7, next: 8 });
    expect(lineEnd('data: x\r\n', 0)).toEqual({ end: 7, next: 9 });
    const reader = new SseLineReader();
    expect(reader.push('data: x\r')).toEqual([]);
    expect(reader.push('\ndata: y\r')).toEqual(['data: x']);
    expect(reader.push('data: z\n')).toEqual(['data: y', 'data: z']);
  });

  it('reads mixed line ends in one stream', () => {
    const reader = new SseLineReader();
    expect(reader.push('a\rb\nc\r\nd\n\re')).toEqual(['a', 'b', 'c', 'd', '']);
    expect(reader.end()).toEqual(['e']);
  });
});
