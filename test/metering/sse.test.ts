import fc from 'fast-check';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { Stream } from 'openai/streaming';
import { describe, expect, it } from 'vitest';
import { estimateRequestTokens } from '../../src/metering/estimate.js';
import { meterEventStream, type MeterEventStreamOptions, type StreamUsage } from '../../src/metering/sse.js';
import { awkwardCuts, chunk, delta, readAll, sse, streamOf } from './streams.js';

const REQUEST = { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Say hello to the world' }] };
const USAGE_CHUNK = chunk({
  choices: [],
  usage: { prompt_tokens: 14, completion_tokens: 6, total_tokens: 20, prompt_tokens_details: { cached_tokens: 0 } },
});
const CHAT = [
  chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
  delta('Héllo'),
  delta(', wörld 🌍!'),
  chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
  USAGE_CHUNK,
  'data: [DONE]',
];
const RESPONSES = [
  'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1","model":"gpt-4.1-mini-2025-04-14","usage":null}}',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Bonjour"}',
  'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","model":"gpt-4.1-mini-2025-04-14","usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":16},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":23}}}',
];
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function meter(body: ReadableStream<Uint8Array>, over: Partial<MeterEventStreamOptions> = {}) {
  const ends: Array<{ usage: StreamUsage; completed: boolean }> = [];
  const stream = meterEventStream(body, {
    endpoint: '/v1/chat/completions',
    requestBody: REQUEST,
    stripUsageChunk: false,
    onEnd: (usage, { completed }) => ends.push({ usage, completed }),
    ...over,
  });
  return { stream, ends };
}

describe('meterEventStream', () => {
  it('forwards every byte unchanged and reads the usage chunk, however the bytes are split', async () => {
    const bytes = sse(CHAT);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 30 }), async (cuts) => {
        const { stream, ends } = meter(streamOf(bytes, cuts));
        expect(await readAll(stream)).toBe(text(bytes));
        expect(ends).toEqual([
          { usage: { inputTokens: 14, outputTokens: 6, cachedTokens: 0, totalTokens: 20, estimated: false, model: 'gpt-4o-mini-2024-07-18' }, completed: true },
        ]);
      }),
      { numRuns: 200 },
    );
  });

  it('handles CRLF line ends cut between CR and LF and inside multi-byte characters', async () => {
    const bytes = sse(CHAT, '\r\n');
    const { stream, ends } = meter(streamOf(bytes, awkwardCuts(bytes)), {
      beforeDone: (u) => `: x-tokenlay {"cost":0.5,"input_tokens":${u.inputTokens}}`,
    });
    const out = await readAll(stream);
    expect(out).toBe(text(bytes).replace('data: [DONE]', ': x-tokenlay {"cost":0.5,"input_tokens":14}\n\ndata: [DONE]'));
    expect(ends[0].usage.outputTokens).toBe(6);
  });

  it('joins a data field spread over several CRLF lines even when cut between CR and LF', async () => {
    const split = 'data: {"choices":[],\ndata: "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}';
    const bytes = sse([split, 'data: [DONE]'], '\r\n');
    const { stream, ends } = meter(streamOf(bytes, awkwardCuts(bytes)));
    expect(await readAll(stream)).toBe(text(bytes));
    expect(ends[0].usage).toMatchObject({ inputTokens: 3, outputTokens: 4, estimated: false });
  });

  it('drops the usage-only chunk when the caller never asked for usage, and only that chunk', async () => {
    const { stream, ends } = meter(streamOf(sse(CHAT)), { stripUsageChunk: true });
    expect(await readAll(stream)).toBe(text(sse(CHAT.filter((e) => e !== USAGE_CHUNK))));
    expect(ends[0].usage).toMatchObject({ inputTokens: 14, outputTokens: 6, estimated: false });
  });

  it('writes the beforeDone trailer just before data: [DONE], with the final usage', async () => {
    const seen: StreamUsage[] = [];
    const { stream } = meter(streamOf(sse(CHAT)), {
      beforeDone: (u) => {
        seen.push(u);
        return `: x-tokenlay ${JSON.stringify({ input_tokens: u.inputTokens, output_tokens: u.outputTokens })}\n`;
      },
    });
    const out = await readAll(stream);
    expect(out.endsWith(`${USAGE_CHUNK}\n\n: x-tokenlay {"input_tokens":14,"output_tokens":6}\n\ndata: [DONE]\n\n`)).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('leaves the trailer invisible to the OpenAI SDK, which still yields every chunk', async () => {
    const { stream } = meter(streamOf(sse(CHAT)), { beforeDone: () => ': x-tokenlay {"cost":0.1}' });
    const response = new Response(stream, { headers: { 'content-type': 'text/event-stream' } });
    const items: Array<{ choices: unknown[] }> = [];
    for await (const item of Stream.fromSSEResponse<{ choices: unknown[] }>(response, new AbortController())) items.push(item);
    expect(items).toHaveLength(5);
    expect(items.at(-1)?.choices).toEqual([]);
  });

  it('reads Responses API usage from response.completed and writes the trailer at the end', async () => {
    const { stream, ends } = meter(streamOf(sse(RESPONSES), [7, 100, 101, 300]), {
      endpoint: '/v1/responses',
      requestBody: { model: 'gpt-4.1-mini', stream: true, input: 'Say hello in French' },
      beforeDone: (u) => `: x-tokenlay {"output_tokens":${u.outputTokens}}`,
    });
    expect(await readAll(stream)).toBe(`${text(sse(RESPONSES))}: x-tokenlay {"output_tokens":3}\n\n`);
    expect(ends).toEqual([
      { usage: { inputTokens: 20, outputTokens: 3, cachedTokens: 16, totalTokens: 23, estimated: false, model: 'gpt-4.1-mini-2025-04-14' }, completed: true },
    ]);
  });

  it('closes an unterminated last event before writing the trailer', async () => {
    const bytes = new TextEncoder().encode(`${RESPONSES[0]}\n\n${RESPONSES[2]}`);
    const { stream } = meter(streamOf(bytes), { endpoint: '/v1/responses', beforeDone: () => ': x-tokenlay {}' });
    expect(await readAll(stream)).toBe(`${RESPONSES[0]}\n\n${RESPONSES[2]}\n\n: x-tokenlay {}\n\n`);
  });

  it('estimates usage from the request and the streamed text when the provider sends none', async () => {
    const noUsage = CHAT.filter((e) => e !== USAGE_CHUNK);
    const { stream, ends } = meter(streamOf(sse(noUsage), [50, 51, 52]));
    await readAll(stream);
    const inputTokens = estimateRequestTokens('gpt-4o-mini', REQUEST);
    const outputTokens = o200k('Héllo, wörld 🌍!');
    expect(ends).toEqual([
      { usage: { inputTokens, outputTokens, cachedTokens: 0, totalTokens: inputTokens + outputTokens, estimated: true, model: 'gpt-4o-mini-2024-07-18' }, completed: true },
    ]);
  });

  it('bills only what was delivered when the consumer cancels mid-stream, and stops the provider stream', async () => {
    const long = [delta('Once upon a time'), delta(' there was a fox'), delta(' who never stopped talking'), USAGE_CHUNK, 'data: [DONE]'];
    let upstreamCancelled = false;
    const bytes = sse(long);
    // One event per upstream chunk, so each read delivers exactly one event.
    const cuts = [...text(bytes).matchAll(/\n\n/g)].map((m) => new TextEncoder().encode(text(bytes).slice(0, m.index + 2)).length);
    const { stream, ends } = meter(streamOf(bytes, cuts, { onCancel: () => (upstreamCancelled = true) }));
    const reader = stream.getReader();
    await reader.read();
    await reader.read();
    // Stays on the wall clock: it checks an absence (read-ahead is not billed), so it gives any read-ahead time to happen.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ends).toEqual([]);
    await reader.cancel('user closed the tab');
    const outputTokens = o200k('Once upon a time there was a fox');
    expect(ends).toHaveLength(1);
    expect(ends[0].completed).toBe(false);
    expect(ends[0].usage).toMatchObject({ outputTokens, estimated: true });
    expect(upstreamCancelled).toBe(true);
  });

  it('reports a provider stream that fails mid-way once, as not completed, and passes the error on', async () => {
    const { stream, ends } = meter(streamOf(sse(CHAT), [400], { failAfter: 1 }));
    await expect(readAll(stream)).rejects.toThrow('socket hang up');
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ completed: false, usage: { estimated: true } });
  });

  it('fires onEnd exactly once even when cancelled after it finished', async () => {
    const { stream, ends } = meter(streamOf(sse(CHAT)));
    const reader = stream.getReader();
    while (!(await reader.read()).done);
    await reader.cancel();
    expect(ends).toHaveLength(1);
    expect(ends[0].completed).toBe(true);
  });

  it('forwards events it does not understand untouched', async () => {
    const odd = [': keep-alive', 'data: not json at all', 'event: ping\ndata: {"type":"ping"}', 'id: 7\nretry: 1000', 'data: [DONE]'];
    const { stream, ends } = meter(streamOf(sse(odd)));
    expect(await readAll(stream)).toBe(text(sse(odd)));
    expect(ends[0].usage.estimated).toBe(true);
  });
});
