/**
 * Gemini's own API through the embedded engine: the model named in the path, the key as
 * `x-goog-api-key`, usageMetadata from generateContent and from streamGenerateContent (`alt=sse`,
 * and read whole as a JSON array).
 */
import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { createTokenlayFetch } from '../../src/index.js';
import { createStore } from '../../src/store/index.js';
import { gatewayRig, PROVIDER_KEY } from '../gateway/support.js';
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

const KEY = 'AIza-test-gemini-key-51c7';
const usageMetadata = { promptTokenCount: 12_000, candidatesTokenCount: 800, thoughtsTokenCount: 1500, cachedContentTokenCount: 8000, totalTokenCount: 14_300 };
const truth = calcPrice({ input_tokens: 12_000, cache_read_tokens: 8000, output_tokens: 2300, output_reasoning_tokens: 1500 }, 'gemini-2.5-flash', { providerId: 'google' })!.total_price;
const chunk = (text: string, usage?: object) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0 }],
  modelVersion: 'gemini-2.5-flash',
  ...(usage ? { usageMetadata: usage } : {}),
});

async function gemini(providerOptions: ProviderOptions, policy: object = { rules: [] }) {
  const provider = await startProvider(providerOptions);
  onCleanup(() => provider.close());
  const store = createStore('memory');
  onCleanup(() => store.close());
  const fetch = createTokenlayFetch({ providerApiKey: KEY, store, policy });
  const call = (method: string, query = '') =>
    fetch(`${provider.url}/v1beta/models/gemini-2.5-flash:${method}${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Summarise the report.' }] }] }),
    });
  const ledger = async () => {
    await settledRow(store);
    return store.ledger();
  };
  return { provider, call, ledger };
}

function expectTruth(cost: number): void {
  expect(Math.abs(cost - truth)).toBeLessThanOrEqual(truth * 0.001);
}

describe('Gemini, natively', () => {
  it('meters generateContent from usageMetadata, the model from the path, the key as x-goog-api-key', async () => {
    const { provider, call, ledger } = await gemini({ behavior: () => ({ kind: 'status', status: 200, body: chunk('Growth everywhere.', usageMetadata) }) });
    const response = await call('generateContent');
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('x-tokenlay-output-tokens'))).toBe(2300);
    const [request] = provider.requests;
    expect(request!.headers['x-goog-api-key']).toBe(KEY);
    expect(request!.headers.authorization).toBeUndefined();
    // Gemini refuses unknown fields: the model stays in the path.
    expect(request!.body).not.toHaveProperty('model');
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 200, modelRequested: 'gemini-2.5-flash', inputTokens: 12_000, outputTokens: 2300, cachedTokens: 8000, estimated: false });
    expectTruth(row!.cost);
  });

  it('meters streamGenerateContent with alt=sse from the last usageMetadata', async () => {
    const events = [
      { data: chunk('Growth ', { promptTokenCount: 12_000, totalTokenCount: 12_000 }) },
      { data: chunk('everywhere.', { ...usageMetadata }) },
    ];
    const { call, ledger } = await gemini({ behavior: () => ({ kind: 'events', events }) });
    const response = await call('streamGenerateContent', '?alt=sse');
    const text = await response.text();
    expect(text).toContain('everywhere.');
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 200, inputTokens: 12_000, outputTokens: 2300, estimated: false });
    expectTruth(row!.cost);
  });

  it('meters streamGenerateContent read whole, as a JSON array', async () => {
    const { call, ledger } = await gemini({ behavior: () => ({ kind: 'status', status: 200, body: [chunk('Growth '), chunk('everywhere.', usageMetadata)] }) });
    await (await call('streamGenerateContent')).text();
    const [row] = await ledger();
    expect(row).toMatchObject({ inputTokens: 12_000, outputTokens: 2300, estimated: false, modelUsed: 'gemini-2.5-flash' });
    expectTruth(row!.cost);
  });

  it('meters generateContent through the gateway, the key sent on as x-goog-api-key', async () => {
    const rig = await gatewayRig({}, { behavior: () => ({ kind: 'status', status: 200, body: chunk('Growth everywhere.', usageMetadata) }) });
    const response = await fetch(`${rig.url}/v1/models/gemini-2.5-flash:generateContent`, {
      method: 'POST',
      headers: rig.headers({ 'x-tokenlay-user': 'gia' }),
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Summarise the report.' }] }] }),
    });
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('x-tokenlay-input-tokens'))).toBe(12_000);
    const [request] = rig.provider.requests;
    expect(request!.path).toBe('/v1/models/gemini-2.5-flash:generateContent');
    expect(request!.headers['x-goog-api-key']).toBe(PROVIDER_KEY);
    expect(request!.headers.authorization).toBeUndefined();
    await settledRow(rig.gateway.store);
    const [row] = await rig.gateway.store.ledger();
    expect(row).toMatchObject({ modelRequested: 'gemini-2.5-flash', outputTokens: 2300 });
    expect(row!.fields).toMatchObject({ user: 'gia' });
    expectTruth(row!.cost);
  });

  it("routes a rule's fallback by the model in the path, and prices the model that answered", async () => {
    const policy = { rules: [{ id: 'flash-fallback', if: {}, then: { fallbacks: ['gemini-2.0-flash'] } }] };
    const { provider, call, ledger } = await gemini(
      { behavior: (r) => (r.path.includes('gemini-2.5-flash') ? { kind: 'status', status: 503 } : { kind: 'status', status: 200, body: { ...chunk('Growth.', usageMetadata), modelVersion: 'gemini-2.0-flash' } }) },
      policy,
    );
    expect((await call('generateContent')).status).toBe(200);
    expect(provider.requests.map((r) => r.path)).toEqual(['/v1beta/models/gemini-2.5-flash:generateContent', '/v1beta/models/gemini-2.0-flash:generateContent']);
    expect(provider.requests[1]!.body).not.toHaveProperty('model');
    const [row] = await ledger();
    expect(row).toMatchObject({ modelRequested: 'gemini-2.5-flash', modelUsed: 'gemini-2.0-flash', status: 200 });
    const expected = calcPrice({ input_tokens: 12_000, cache_read_tokens: 8000, output_tokens: 2300, output_reasoning_tokens: 1500 }, 'gemini-2.0-flash', { providerId: 'google' })!.total_price;
    expect(Math.abs(row!.cost - expected)).toBeLessThanOrEqual(expected * 0.001);
  });
});
