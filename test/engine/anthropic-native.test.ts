/**
 * Anthropic's Messages API natively (`POST /v1/messages`), through the real `@anthropic-ai/sdk`
 * on createTokenlayFetch, embedded and through the gateway: the key where Anthropic takes it,
 * usage from message_start and message_delta, delivered text from content_block_delta, and a
 * cut stream settled as cut off.
 */
import Anthropic from '@anthropic-ai/sdk';
import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { createTokenlayFetch, getTokenlayUsage, runWithTokenlay, tokenlayFetch } from '../../src/index.js';
import { createStore } from '../../src/store/index.js';
import { gatewayRig } from '../gateway/support.js';
import { startProvider, type ProviderOptions } from '../support/provider.js';
import { onCleanup } from './support.js';
import { eventually } from '../support/gate.js';

/** Waits for the call's ledger row: settlement runs after the answer has reached the caller. */
async function settledRow(store: { flush(): Promise<void>; ledger(): Promise<unknown[]> }): Promise<void> {
  await eventually(async () => {
    await store.flush();
    return (await store.ledger()).length > 0;
  }, "the call's ledger row");
}

const KEY = 'sk-ant-test-key-3b9d';
const haiku = 'claude-3-5-haiku-20241022';
const cacheUsage = { input_tokens: 2095, cache_creation_input_tokens: 500, cache_read_input_tokens: 10_000 };
const haikuTruth = (output: number) =>
  calcPrice({ input_tokens: 2095 + 500 + 10_000, cache_write_tokens: 500, cache_read_tokens: 10_000, output_tokens: output }, 'claude-3-5-haiku', { providerId: 'anthropic' })!.total_price;

/** A sentence of about eleven tokens: one streamed text chunk. */
const CHUNK = 'The quarterly report shows steady growth across every region. ';

function messageStart(usage: Record<string, number>, model = haiku) {
  return { event: 'message_start', data: { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } } };
}
const textDelta = (text: string) => ({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } } });
function streamEvents(chunks: number, finalOutput?: number) {
  const events: Array<{ event: string; data: unknown }> = [messageStart(cacheUsage), { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } }];
  for (let i = 0; i < chunks; i++) events.push(textDelta(CHUNK));
  if (finalOutput === undefined) return events;
  events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } });
  events.push({ event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: finalOutput } } });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}
function messageJson(model: string, usage: Record<string, number>) {
  return { id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'Hello.' }], stop_reason: 'end_turn', stop_sequence: null, usage };
}

/** An Anthropic client whose calls go through the embedded engine, with a store the test reads. */
async function embeddedAnthropic(providerOptions: ProviderOptions) {
  const provider = await startProvider(providerOptions);
  onCleanup(() => provider.close());
  const store = createStore('memory');
  onCleanup(() => store.close());
  const fetch = createTokenlayFetch({ providerApiKey: KEY, providerApiBase: provider.base, store, policy: { rules: [] } });
  const client = new Anthropic({ apiKey: 'sdk-placeholder', baseURL: provider.url, fetch, maxRetries: 0, defaultHeaders: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
  const ledger = async () => {
    await settledRow(store);
    return store.ledger();
  };
  return { provider, client, ledger };
}

const ask = { model: 'claude-3-5-haiku-latest', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'Summarise the report.' }] };

describe('Anthropic Messages, natively', () => {
  it('sends the key as x-api-key with anthropic-version and anthropic-beta, and prices the JSON usage (embedded)', async () => {
    const { provider, client, ledger } = await embeddedAnthropic({ behavior: () => ({ kind: 'status', status: 200, body: messageJson(haiku, { ...cacheUsage, output_tokens: 503 }) }) });
    const message = await runWithTokenlay({ user: 'ana' }, () => client.messages.create(ask));
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'Hello.' });
    const [request] = provider.requests;
    expect(request!.path).toBe('/v1/messages');
    expect(request!.headers['x-api-key']).toBe(KEY);
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.headers['anthropic-version']).toBe('2023-06-01');
    expect(request!.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 200, inputTokens: 12_595, outputTokens: 503, cachedTokens: 10_000, estimated: false, modelUsed: haiku });
    expect(row!.fields).toMatchObject({ user: 'ana' });
    expect(row!.cost).toBeCloseTo(0.004988, 9);
    expect(Math.abs(row!.cost - haikuTruth(503))).toBeLessThanOrEqual(haikuTruth(503) * 0.001);
  });

  it('reads a stream: input and cache from message_start, output from message_delta ($0.004988, not $0.002012)', async () => {
    const { client, ledger } = await embeddedAnthropic({ behavior: () => ({ kind: 'events', events: streamEvents(5, 503) }) });
    const stream = await client.messages.create({ ...ask, stream: true });
    let text = '';
    for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    expect(text).toBe(CHUNK.repeat(5));
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 200, inputTokens: 12_595, outputTokens: 503, cachedTokens: 10_000, estimated: false });
    expect(row!.cost).toBeCloseTo(0.004988, 9);
  });

  it('settles a stream cut after message_start and 10 text chunks as cut off (499), the delivered text estimated', async () => {
    const { client, ledger } = await embeddedAnthropic({ behavior: () => ({ kind: 'events', events: streamEvents(10), cut: true }) });
    const stream = await client.messages.create({ ...ask, stream: true });
    let text = '';
    await expect(
      (async () => {
        for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      })(),
    ).rejects.toThrow();
    expect(text).toBe(CHUNK.repeat(10));
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 499, inputTokens: 12_595, cachedTokens: 10_000, estimated: true });
    // About eleven tokens a chunk: the estimate of the delivered text, not the placeholder of message_start.
    expect(row!.outputTokens).toBeGreaterThan(80);
    expect(row!.outputTokens).toBeLessThan(140);
    expect(Math.abs(row!.cost - haikuTruth(row!.outputTokens))).toBeLessThanOrEqual(haikuTruth(row!.outputTokens) * 0.001);
    expect(row!.cost).toBeGreaterThan(0.0032);
    expect(row!.cost).toBeLessThan(0.0036);
  });

  it('prices the model that answered: asked claude-3-opus, served claude-3-5-haiku', async () => {
    const usage = { input_tokens: 1002, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 146 };
    const { client, ledger } = await embeddedAnthropic({ behavior: () => ({ kind: 'status', status: 200, body: messageJson('claude-3-5-haiku-20241022', usage) }) });
    await client.messages.create({ ...ask, model: 'claude-3-opus-20240229' });
    const [row] = await ledger();
    expect(row).toMatchObject({ modelRequested: 'claude-3-opus-20240229', modelUsed: 'claude-3-5-haiku-20241022' });
    expect(row!.cost).toBeCloseTo(0.0013856, 9);
  });

  it('reaches Anthropic through the gateway with x-api-key, anthropic-version and anthropic-beta, and meters the stream', async () => {
    const rig = await gatewayRig({}, { behavior: () => ({ kind: 'events', events: streamEvents(3, 503) }) });
    const fetch = createTokenlayFetch({ tokenlayKey: rig.key, tokenlayBaseUrl: rig.url, providerApiBase: rig.provider.base });
    // No providerApiKey: the key the Anthropic SDK sends in its own x-api-key is the provider key.
    const client = new Anthropic({ apiKey: KEY, baseURL: rig.provider.url, fetch, maxRetries: 0, defaultHeaders: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
    const stream = await client.messages.create({ ...ask, stream: true });
    let text = '';
    for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    expect(text).toBe(CHUNK.repeat(3));
    const [request] = rig.provider.requests;
    expect(request!.path).toBe('/v1/messages');
    expect(request!.headers['x-api-key']).toBe(KEY);
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.headers['anthropic-version']).toBe('2023-06-01');
    expect(request!.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
    await settledRow(rig.gateway.store);
    const [row] = await rig.gateway.store.ledger();
    expect(row).toMatchObject({ status: 200, inputTokens: 12_595, outputTokens: 503 });
    expect(row!.cost).toBeCloseTo(0.004988, 9);
  });

  it('works with tokenlayFetch on an Anthropic client pointed at the gateway, as the AI SDK does', async () => {
    const usage = { ...cacheUsage, output_tokens: 503 };
    const rig = await gatewayRig({}, { behavior: () => ({ kind: 'status', status: 200, body: messageJson(haiku, usage) }) });
    // The proxy's own headers on the client, as with createOpenAI({ baseURL, headers, fetch: tokenlayFetch }).
    const client = new Anthropic({
      apiKey: null,
      authToken: rig.key,
      baseURL: rig.url,
      fetch: tokenlayFetch,
      maxRetries: 0,
      defaultHeaders: { 'x-tokenlay-provider-key': KEY, 'x-tokenlay-provider-base': rig.provider.base, 'anthropic-beta': 'prompt-caching-2024-07-31' },
    });
    const cost = await runWithTokenlay({ user: 'tess' }, async () => {
      await client.messages.create(ask);
      return getTokenlayUsage()?.cost;
    });
    expect(cost).toBeCloseTo(0.004988, 9);
    const [request] = rig.provider.requests;
    expect(request!.headers['x-api-key']).toBe(KEY);
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
    expect(request!.headers['x-tokenlay-user']).toBeUndefined();
    await settledRow(rig.gateway.store);
    const [row] = await rig.gateway.store.ledger();
    expect(row!.fields).toMatchObject({ user: 'tess' });
  });

  it("takes the key from the Anthropic SDK's own x-api-key on a client pointed straight at the gateway", async () => {
    const rig = await gatewayRig({}, { behavior: () => ({ kind: 'status', status: 200, body: messageJson(haiku, { ...cacheUsage, output_tokens: 503 }) }) });
    const client = new Anthropic({ apiKey: KEY, authToken: rig.key, baseURL: rig.url, maxRetries: 0, defaultHeaders: { 'x-tokenlay-provider-base': rig.provider.base } });
    await client.messages.create(ask);
    const [request] = rig.provider.requests;
    expect(request!.headers['x-api-key']).toBe(KEY);
    expect(request!.headers.authorization).toBeUndefined();
    await settledRow(rig.gateway.store);
    const [row] = await rig.gateway.store.ledger();
    expect(row!.cost).toBeCloseTo(0.004988, 9);
  });
});
