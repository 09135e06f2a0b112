/** Byte-stream helpers for the SSE tests: real ReadableStreams, split where a test says. */

const encoder = new TextEncoder();

/** A stream that yields `bytes` cut at `cuts` (byte offsets), one chunk per read. */
export function streamOf(bytes: Uint8Array, cuts: number[] = [], hooks: { onCancel?: () => void; failAfter?: number } = {}) {
  const edges = [...new Set([0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length])].sort((a, b) => a - b);
  const chunks = edges.slice(1).map((end, i) => bytes.slice(edges[i], end));
  let index = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (hooks.failAfter !== undefined && index === hooks.failAfter) {
          controller.error(new Error('socket hang up'));
          return;
        }
        if (index < chunks.length) controller.enqueue(chunks[index++]);
        else controller.close();
      },
      cancel() {
        hooks.onCancel?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/** The events as one SSE byte string, each followed by a blank line. */
export function sse(events: string[], eol = '\n'): Uint8Array {
  return encoder.encode(events.map((e) => e.replaceAll('\n', eol) + eol + eol).join(''));
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Byte offsets at which every event boundary, CRLF and multi-byte character of `bytes` is cut. */
export function awkwardCuts(bytes: Uint8Array): number[] {
  const cuts: number[] = [];
  bytes.forEach((b, i) => {
    if (b === 0x0d || b === 0x0a || b >= 0x80) cuts.push(i, i + 1);
  });
  return cuts;
}

export const chunk = (over: Record<string, unknown>) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-2024-07-18', usage: null, ...over })}`;
export const delta = (content: string) => chunk({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });
