import { calcPrice } from '@pydantic/genai-prices';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createTokenlayFetch, getTokenlayMetadata, runWithTokenlay, TokenlayLimitError, TokenlayOpenAI } from '../../src/index.js';
import { honestUsage } from '../support/honest-usage.js';
import { startProvider } from '../support/provider.js';
import { createMemoryStore } from '../../src/store/index.js';
import { as, manualClock, onCleanup, PROVIDER_KEY, rig, warningsHeader } from './support.js';

const monthly = (type: 'cost' | 'tokens', max: number, extra: object = {}) => ({
  rules: [{ id: 'monthly', if: {}, then: { limits: [{ type, max, window: 'month', per: 'user' }], ...extra } }],
});
const ask = (content: string) => [{ role: 'user' as const, content }];

describe('a call with no output limit under a cost cap', () => {
  it('o4-mini, a $0.05 cap, 3 concurrent calls without max_tokens, a provider answering 30,000 tokens: settled <= $0.05', async () => {
    const provider = await startProvider({ usage: honestUsage(30_000), behavior: () => ({ kind: 'delay', ms: 30 }) });
    onCleanup(() => provider.close());
    const store = createMemoryStore();
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy: monthly('cost', 0.05), store, maxRetries: 0 });
    const results = await runWithTokenlay({ user: 'ola' }, () =>
      Promise.allSettled([0, 1, 2].map(() => openai.chat.completions.create({ model: 'o4-mini', messages: ask('Write a long essay about rate limits.') }))),
    );
    const answered = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(answered.length).toBeGreaterThanOrEqual(1);
    for (const reason of refused) expect(reason).toBeInstanceOf(TokenlayLimitError);

    await openai.close();
    const rows = await store.ledger();
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(settled).toBeGreaterThan(0);
    expect(settled).toBeLessThanOrEqual(0.05);
    // Each row priced as genai-prices prices it.
    for (const r of rows.filter((row) => row.status === 200)) {
      expect(r.cost).toBeCloseTo(calcPrice({ input_tokens: r.inputTokens, output_tokens: r.outputTokens }, 'o4-mini', { providerId: 'openai' })!.total_price, 12);
    }
    // The provider was told the lowered limit, in the field reasoning models read, and the caller was told too.
    for (const sent of provider.requests) expect(sent.body.max_completion_tokens).toBeLessThan(30_000);
    for (const completion of answered) {
      const meta = getTokenlayMetadata(completion)!;
      expect(meta.outputLimit).toBe(provider.requests.find((r) => r.body.max_completion_tokens === meta.outputLimit)?.body.max_completion_tokens);
      expect(meta.warnings?.some((w) => w.startsWith(`rule "monthly": max_completion_tokens lowered to ${meta.outputLimit} so that this call cannot pass $0.05 per month per user`))).toBe(true);
    }
  });

  it('sends a call that fits the room as it was asked: no output limit written, no warning', async () => {
    const { openai, provider } = await rig({ rules: monthly('cost', 5), store: 'memory' }, { usage: honestUsage(100) });
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: ask('Hi') }, as({ user: 'ann' })).withResponse();
    expect(data.choices[0]!.message.content).toBe('hello anonymous');
    expect(provider.requests[0]!.body.max_tokens).toBeUndefined();
    expect(provider.requests[0]!.body.max_completion_tokens).toBeUndefined();
    expect(response.headers.get('x-tokenlay-output-limit')).toBeNull();
    expect(warningsHeader(response)).toBeNull();
  });
});

describe('clamp instead of overshoot', () => {
  it('lowers the field each endpoint reads so that a token cap holds: max_tokens, the caller’s own field, max_output_tokens', async () => {
    const { openai, provider, fetch } = await rig({ rules: monthly('tokens', 3_000), store: 'memory' }, { usage: honestUsage(1_000_000) });
    const first = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: ask('Tell me everything.') }, as({ user: 'tom' })).withResponse();
    const limit1 = Number(first.response.headers.get('x-tokenlay-output-limit'));
    expect(provider.requests[0]!.body.max_tokens).toBe(limit1);
    expect(limit1).toBeGreaterThan(1_000);
    expect(limit1).toBeLessThan(3_000);

    const second = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: ask('More.'), max_completion_tokens: 16_000 }, as({ user: 'una' }))
      .withResponse();
    const limit2 = Number(second.response.headers.get('x-tokenlay-output-limit'));
    expect(provider.requests[1]!.body.max_completion_tokens).toBe(limit2);
    expect(provider.requests[1]!.body.max_tokens).toBeUndefined();
    expect(warningsHeader(second.response)).toEqual([expect.stringMatching(/^rule "monthly": max_completion_tokens lowered to \d+ so that this call cannot pass 3000 tokens per month per user \(user=una: 0 used\)$/)]);

    const third = await openai.responses.create({ model: 'gpt-4.1', input: 'And more.' }, as({ user: 'ivy' })).withResponse();
    expect(provider.requests[2]!.body.max_output_tokens).toBe(Number(third.response.headers.get('x-tokenlay-output-limit')));

    await fetch.engine.flush();
    for (const user of ['tom', 'una', 'ivy']) {
      const rows = await fetch.engine.store.ledger({ fields: { user } });
      expect(rows.reduce((n, r) => n + r.inputTokens + r.outputTokens, 0)).toBeLessThanOrEqual(3_000);
    }
  });

  it('says the limit in a stream’s headers and trailer', async () => {
    const { fetch, provider } = await rig({ rules: monthly('cost', 0.001), store: 'memory' }, { usage: honestUsage(50_000) });
    const response = await fetch(`${provider.base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PROVIDER_KEY}`, ...as({ user: 'sue' }).headers },
      body: JSON.stringify({ model: 'gpt-4o', messages: ask('Stream a novel.'), stream: true }),
    });
    const text = await response.text();
    const sent = provider.requests[0]!.body.max_tokens;
    expect(sent).toBeGreaterThan(16);
    expect(response.headers.get('x-tokenlay-output-limit')).toBe(String(sent));
    const trailer = JSON.parse(/^: x-tokenlay (.*)$/m.exec(text)![1]!);
    expect(trailer.output_limit).toBe(sent);
    expect(trailer.cost).toBeLessThanOrEqual(0.001);
  });

  it('applies on_limit_exceeded only when not even a short answer fits: 429, and the provider is never called', async () => {
    const { openai, provider } = await rig({ rules: monthly('tokens', 40), store: 'memory' }, { usage: honestUsage(1_000) });
    const error = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: ask('x'.repeat(200)) }, as({ user: 'zed' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(provider.requests).toHaveLength(0);
  });

  it('reserves for the dearest fallback model too, and clamps each model to the same reservation', async () => {
    const rules = { rules: [{ id: 'monthly', if: {}, then: { fallbacks: ['gpt-4o'], limits: [{ type: 'cost', max: 0.01, window: 'month', per: 'user' }] } }] };
    const { openai, provider } = await rig(
      { rules, store: 'memory' },
      { usage: honestUsage(100_000), behavior: (r) => (r.body.model === 'gpt-4o-mini' ? { kind: 'status', status: 503 } : undefined) },
    );
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: ask('Go.') }, as({ user: 'fal' })).withResponse();
    const [mini, full] = provider.requests.map((r) => r.body.max_tokens);
    // gpt-4o-mini's worst case (16,384 tokens at $0.60 per million) fits $0.01; gpt-4o's, at
    // $10 per million, does not: the fallback is sent with a limit that keeps it within the cap.
    expect(mini).toBeUndefined();
    expect(full).toBeGreaterThan(16);
    expect(full).toBeLessThan(1_000);
    expect(Number(response.headers.get('x-tokenlay-output-limit'))).toBe(full);
    expect(Number(response.headers.get('x-tokenlay-cost'))).toBeLessThanOrEqual(0.01);
  });

  it('a queued call waits for room, then is clamped to what is left rather than refused', async () => {
    const rules = monthly('cost', 0.02, { on_limit_exceeded: { action: 'queue', delay_seconds: 10 } });
    const clock = manualClock(new Date().toISOString());
    let arrived!: () => void;
    const firstArrived = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { openai, provider, fetch } = await rig(
      { rules, store: 'memory', now: clock.now, sleep: clock.sleep },
      { usage: honestUsage(200), behavior: () => (arrived(), { kind: 'hold', until: held }) },
    );
    const call = () => openai.chat.completions.create({ model: 'gpt-4o', messages: ask('Go on.') }, as({ user: 'quinn' })).withResponse();
    const first = call();
    await firstArrived;
    // The first took the whole room: the second waits on the engine's clock until it settles.
    const waiting = clock.sleeping();
    const second = call();
    await waiting;
    release();
    const answered = await first;
    clock.advance(20);
    const queued = await second;
    expect(answered.response.headers.get('x-tokenlay-rule-action')).toBe('allow');
    expect(queued.response.headers.get('x-tokenlay-rule-action')).toBe('queue');
    // Once the first settled ($0.002), the second got a limit that fits the rest.
    expect(Number(answered.response.headers.get('x-tokenlay-output-limit'))).toBe(provider.requests[0]!.body.max_tokens);
    expect(Number(queued.response.headers.get('x-tokenlay-output-limit'))).toBe(provider.requests[1]!.body.max_tokens);
    await fetch.engine.flush();
    const rows = await fetch.engine.store.ledger();
    expect(rows.reduce((sum, r) => sum + r.cost, 0)).toBeLessThanOrEqual(0.02);
  });

  it('holds a provider that reports more output than the call was sent to write to that limit, so the cap holds all the same', async () => {
    const { openai, provider, fetch } = await rig({ rules: monthly('cost', 0.05), store: 'memory' }, { usage: { prompt: 12, completion: 30_000 } });
    const results = await Promise.allSettled([0, 1, 2].map(() => openai.chat.completions.create({ model: 'o4-mini', messages: ask('Write a long essay.') }, as({ user: 'ivo' }))));
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
    await fetch.engine.flush();
    const rows = (await fetch.engine.store.ledger()).filter((r) => r.status === 200);
    expect(rows.reduce((sum, r) => sum + r.cost, 0)).toBeLessThanOrEqual(0.05);
    for (const [i, row] of rows.entries()) {
      expect(row.outputTokens).toBe(provider.requests[i]!.body.max_completion_tokens);
      expect(row.estimated).toBe(true);
    }
  });

  it("clamps each of n choices, and a rule's model_params limit like the caller's own", async () => {
    const rules = { rules: [{ id: 'monthly', if: {}, then: { model_params: { max_tokens: 10_000 }, limits: [{ type: 'tokens', max: 3_000, window: 'month', per: 'user' }] } }] };
    const { openai, provider } = await rig({ rules, store: 'memory' }, { usage: (r) => ({ prompt: 20, completion: 2 * r.body.max_tokens }) });
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: ask('Two takes.'), n: 2 }, as({ user: 'nia' })).withResponse();
    const limit = provider.requests[0]!.body.max_tokens;
    expect(Number(response.headers.get('x-tokenlay-output-limit'))).toBe(limit);
    // Two choices of `limit` tokens and the input's bound fit 3,000 tokens; one more token a choice would not.
    expect(limit).toBeGreaterThan(1_400);
    expect(limit).toBeLessThan(1_500);
    expect(Number(response.headers.get('x-tokenlay-tokens-used'))).toBeLessThanOrEqual(3_000);
  });

  it("clamps Gemini's own API in generationConfig.maxOutputTokens, and bounds its contents", async () => {
    const provider = await startProvider({
      behavior: () => ({ kind: 'status', status: 200, body: { candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, index: 0 }], usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 60_000, totalTokenCount: 60_030 } } }),
    });
    onCleanup(() => provider.close());
    const store = createMemoryStore();
    onCleanup(() => store.close());
    const fetch = createTokenlayFetch({ providerApiKey: 'AIza-test-key', store, policy: monthly('cost', 0.01) });
    const response = await fetch(`${provider.url}/v1beta/models/gemini-2.5-flash:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tokenlay-user': 'gil' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Write at length.' }] }], generationConfig: { temperature: 0 } }),
    });
    expect(response.status).toBe(200);
    const sent = provider.requests[0]!.body;
    expect(sent.generationConfig.temperature).toBe(0);
    expect(sent.generationConfig.maxOutputTokens).toBeGreaterThan(16);
    expect(sent).not.toHaveProperty('max_tokens');
    expect(Number(response.headers.get('x-tokenlay-output-limit'))).toBe(sent.generationConfig.maxOutputTokens);
    // The provider's 60,000 output tokens are held to the limit it was sent: the cap holds.
    expect(Number(response.headers.get('x-tokenlay-cost'))).toBeLessThanOrEqual(0.01);
  });
});
