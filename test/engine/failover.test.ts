import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { listen } from '../support/http.js';
import { as, hello, onCleanup, PROVIDER_KEY, rig, warningsHeader } from './support.js';

const withFallbacks = (extra: object = {}) => ({
  rules: [{ id: 'resilient', if: {}, then: { model: 'gpt-4o', fallbacks: ['gpt-4o-mini', 'gpt-3.5-turbo'], ...extra } }],
});
// No model: the rule routes the call to gpt-4o.
const routed = { messages: hello.messages } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('expected the call to fail'); }, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);

describe('provider failover', () => {
  it('tries the fallbacks in order when the provider answers 500, and reports the model used', async () => {
    const { openai, provider, fetch } = await rig(
      { rules: withFallbacks(), store: 'memory' },
      { behavior: (r) => (r.body?.model === 'gpt-3.5-turbo' ? undefined : { kind: 'status', status: 500 }) },
    );
    const { data, response } = await openai.chat.completions.create(routed, as({ user: 'u' })).withResponse();
    expect(provider.requests.map((r) => r.body.model)).toEqual(['gpt-4o', 'gpt-4o-mini', 'gpt-3.5-turbo']);
    expect(data.model).toBe('gpt-3.5-turbo');
    expect(response.headers.get('x-tokenlay-model')).toBe('gpt-3.5-turbo');
    expect(warningsHeader(response)).toEqual([
      'provider answered 500 for model gpt-4o',
      'provider answered 500 for model gpt-4o-mini',
    ]);
    const [row] = await fetch.engine.store.ledger();
    expect(row).toMatchObject({ modelRequested: null, modelUsed: 'gpt-3.5-turbo', status: 200 });
  });

  it('moves on from a provider that does not answer in time', async () => {
    const { openai, provider } = await rig(
      { rules: withFallbacks(), store: 'memory', providerTimeoutMs: 200 },
      { behavior: (r) => (r.body?.model === 'gpt-4o' ? { kind: 'stall' } : undefined) },
    );
    const { data } = await openai.chat.completions.create(routed, as({ user: 'u' })).withResponse();
    expect(data.model).toBe('gpt-4o-mini');
    expect(provider.requests.map((r) => r.body.model)).toEqual(['gpt-4o', 'gpt-4o-mini']);
  });

  it('passes the last 5xx through when every model fails, and counts one request (it reached the provider), nothing billed', async () => {
    const rules = withFallbacks({ limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] });
    const { openai, fetch } = await rig({ rules, store: 'memory' }, { behavior: () => ({ kind: 'status', status: 503 }) });
    const error = await fail(openai.chat.completions.create(hello, as({ user: 'u' })));
    expect(error.status).toBe(503);
    expect(error.headers?.get('x-tokenlay-rule-id')).toBe('resilient');
    // Requests limits count every call that reached the provider, as its own rate limits do: one
    // call, however many models it tried. Nothing was billed.
    const { used, reserved } = await fetch.engine.store.read('resilient|requests|day|user=u', 'requests', Math.floor(Date.now() / 86_400_000) * 86_400_000, Date.now());
    expect({ used, reserved }).toEqual({ used: 1, reserved: 0 });
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger()).map((r) => [r.status, r.cost, r.inputTokens + r.outputTokens])).toEqual([[503, 0, 0]]);
  });

  it('does not fail over on a 4xx: the provider refused the call itself', async () => {
    const { openai, provider } = await rig({ rules: withFallbacks(), store: 'memory' }, { behavior: () => ({ kind: 'status', status: 400 }) });
    expect((await fail(openai.chat.completions.create(hello))).status).toBe(400);
    expect(provider.requests).toHaveLength(1);
  });

  it('answers 502 naming the provider base, never the key, when it cannot be reached', async () => {
    const closed = await listen(() => {});
    await closed.close(); // nothing listens on this port now
    const base = `${closed.url}/v1`;
    const embedded = createEmbeddedFetch({ store: 'memory' });
    onCleanup(() => embedded.close());
    const openai = new OpenAI({ apiKey: PROVIDER_KEY, baseURL: base, fetch: embedded, maxRetries: 0 });
    const error = await fail(openai.chat.completions.create(hello));
    expect(error.status).toBe(502);
    expect(error.error).toMatchObject({ type: 'tokenlay_provider_error', code: 'provider_unreachable' });
    expect(error.message).toContain(`the provider at ${base} could not be reached`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).not.toContain(PROVIDER_KEY);
    const rows = await embedded.engine.store.ledger();
    expect(rows[0]).toMatchObject({ status: 502, cost: 0 });
  });
});

describe('unknown models', () => {
  it('refuses an unpriced model with 400 naming it and the prices: fix, when unknown_models is refuse', async () => {
    const { openai, chatCalls } = await rig({ rules: { unknown_models: 'refuse', rules: [] }, store: 'memory' });
    const error = await fail(openai.chat.completions.create({ ...hello, model: 'acme-llm-7' }));
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_priced', param: 'model' });
    expect(error.message).toContain('"acme-llm-7"');
    expect(error.message).toContain('prices: { "acme-llm-7": { input: 0.5, output: 1.5 } }');
    expect(chatCalls()).toBe(0);
    await expect(openai.chat.completions.create(hello)).resolves.toBeDefined();
  });

  it('prices an unknown model with a prices: entry, and otherwise meters it at 0 with a warning', async () => {
    const { openai } = await rig({ rules: { prices: { 'acme-llm-7': { input: 1, output: 2 } }, rules: [] }, store: 'memory' });
    const priced = await openai.chat.completions.create({ ...hello, model: 'acme-llm-7' }).withResponse();
    expect(priced.response.headers.get('x-tokenlay-cost')).toBe('0.00002'); // 10 × $1 + 5 × $2 per 1M
    const unpriced = await openai.chat.completions.create({ ...hello, model: 'acme-llm-8' }).withResponse();
    expect(unpriced.response.headers.get('x-tokenlay-cost')).toBe('0');
    expect(warningsHeader(unpriced.response)[0]).toContain('No price is known for model "acme-llm-8"');
  });
});
