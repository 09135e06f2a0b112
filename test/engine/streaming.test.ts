import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { fieldsToHeaders } from '../../src/protocol/headers.js';
import { startSlowStream } from './slow-stream.js';
import { as, hello, onCleanup, PROVIDER_KEY, rig } from './support.js';

const prices = { 'gpt-4o-mini': { input: 1, output: 2 } };
const rules = { rules: [{ id: 'everyone', if: {}, then: { limits: [{ type: 'tokens', max: 1_000_000, window: 'day', per: 'user' }] } }] };

function post(fetchImpl: typeof fetch, base: string, body: object, fields: Record<string, string> = { user: 'sam' }) {
  return fetchImpl(`${base}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${PROVIDER_KEY}`, ...fieldsToHeaders(fields) },
    body: JSON.stringify(body),
  });
}

function events(text: string): string[] {
  return text.split('\n\n').filter((e) => e.length > 0);
}

describe('streamed calls', () => {
  it('asks the provider for usage, removes the usage chunk the caller did not ask for, and writes the trailer before [DONE]', async () => {
    const { fetch, provider } = await rig({ rules, store: 'memory', prices });
    const response = await post(fetch, provider.base, { ...hello, stream: true });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('x-tokenlay-rule-id')).toBe('everyone');
    expect(response.headers.get('x-tokenlay-cost')).toBeNull(); // not known until the end: see the trailer
    const all = events(await response.text());
    expect(provider.requests[0]!.body.stream_options).toEqual({ include_usage: true });
    expect(all.some((e) => e.includes('"usage"'))).toBe(false);
    expect(all.at(-1)).toBe('data: [DONE]');
    const trailer = all.at(-2)!;
    expect(trailer.startsWith(': x-tokenlay ')).toBe(true);
    expect(JSON.parse(trailer.slice(': x-tokenlay '.length))).toMatchObject({
      rule_id: 'everyone',
      rule_action: 'allow',
      limit_exceeded: false,
      cost: 0.00002,
      input_tokens: 10,
      output_tokens: 5,
      tokens_used: 15,
      warnings: [],
    });
    const [row] = await fetch.engine.store.ledger();
    expect(row).toMatchObject({ inputTokens: 10, outputTokens: 5, cost: 0.00002, estimated: false, status: 200 });
  });

  it('keeps the usage chunk for a caller who asked for it, through the OpenAI SDK', async () => {
    const { openai } = await rig({ rules, store: 'memory', prices });
    const stream = await openai.chat.completions.create({ ...hello, stream: true, stream_options: { include_usage: true } }, as({ user: 'sam' }));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 5 });
    // The stand-in greets the x-tokenlay-user it sees: none, as the engine strips them.
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('hello anonymous ');
  });

  it('gives an SDK stream without usage chunks when the caller did not ask', async () => {
    const { openai } = await rig({ rules, store: 'memory', prices });
    const stream = await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'sam' }));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.every((c) => c.usage === undefined || c.usage === null)).toBe(true);
  });

  it('bills a cancelled stream for what was delivered, and frees its reservation', async () => {
    const slow = await startSlowStream({ chunks: 400, word: ' lorem', everyMs: 5 });
    onCleanup(() => slow.close());
    const embedded = createEmbeddedFetch({ rules, store: 'memory', prices });
    onCleanup(() => embedded.close());
    const openai = new OpenAI({ apiKey: PROVIDER_KEY, baseURL: slow.base, fetch: embedded, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'sam' }));
    let delivered = '';
    for await (const chunk of stream) {
      delivered += chunk.choices[0]?.delta?.content ?? '';
      if (delivered.length >= 20 * ' lorem'.length) break; // leaving the loop cancels the stream
    }
    await slow.closedByClient;
    await embedded.engine.flush();
    const [row] = await embedded.engine.store.ledger();
    expect(slow.written()).toBeLessThan(400);
    // " lorem" is one token: what was billed is what the caller read, not the whole answer.
    expect(row!.outputTokens).toBe(20);
    expect(row!.estimated).toBe(true);
    expect(row!.cost).toBeGreaterThan(0);
    const day = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    const counter = await embedded.engine.store.read('everyone|tokens|day|user=sam', 'tokens', day, Date.now());
    expect(counter).toEqual({ used: row!.inputTokens + 20, reserved: 0 });
  });
});
