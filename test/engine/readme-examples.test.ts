import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { as, manualClock, rig, warningsHeader } from './support.js';

// The two rules of the @tokenlay/rules README, as written there.
const readmeRules = {
  version: '0.1',
  rules: [
    { id: 'free-tier', if: { tier: 'free' }, then: { model: 'gpt-3.5-turbo', limits: [{ type: 'requests', max: 100, window: 'day', per: 'user' }] }, priority: 1 },
    {
      id: 'pro-tier',
      if: { tier: 'pro' },
      then: { model: 'gpt-4', limits: [{ type: 'cost', max: 50, window: 'month', per: 'user' }], on_limit_exceeded: { action: 'downgrade', downgrade_to: 'gpt-3.5-turbo' } },
      priority: 2,
    },
  ],
};
// $2 per call of gpt-4 (10 prompt + 5 completion tokens from the stand-in), $0.015 on gpt-3.5-turbo.
const prices = { 'gpt-4': { input: 100_000, output: 200_000 }, 'gpt-3.5-turbo': { input: 1000, output: 1000 } };
// No model: the rules route the call (a model the call names would be used as asked).
const ask = { messages: [{ role: 'user' as const, content: 'Summarise this.' }], max_tokens: 5 } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;

describe('the @tokenlay/rules README examples, in embedded mode', () => {
  it('blocks the 101st call of a free user in a day with 429 and a retry-after, without reaching the provider', async () => {
    const clock = manualClock('2026-05-17T18:00:00Z');
    const { openai, chatCalls, provider } = await rig({ rules: readmeRules, store: 'memory', now: clock.now, prices });
    for (let i = 0; i < 100; i++) {
      const { response } = await openai.chat.completions.create(ask, as({ user: 'ann', tier: 'free' })).withResponse();
      expect(response.headers.get('x-tokenlay-rule-id')).toBe('free-tier');
    }
    // The rule routes free users to gpt-3.5-turbo.
    expect(provider.requests.every((r) => r.body.model === 'gpt-3.5-turbo')).toBe(true);

    const blocked = await openai.chat.completions.create(ask, as({ user: 'ann', tier: 'free' })).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(OpenAI.RateLimitError);
    const error = blocked as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.status).toBe(429);
    expect(error.headers?.get('retry-after')).toBe(String(6 * 3600)); // until 2026-05-18T00:00Z
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(error.headers?.get('x-tokenlay-rule-action')).toBe('block');
    expect(error.headers?.get('x-tokenlay-limit-exceeded')).toBe('true');
    expect(error.error).toMatchObject({
      type: 'tokenlay_limit_exceeded',
      code: 'limit_exceeded',
      tokenlay: { rule_id: 'free-tier', limit: { type: 'requests', window: 'day', per: 'user', max: 100, current: 100, resets_at: '2026-05-18T00:00:00Z' } },
    });
    expect(chatCalls()).toBe(100);

    // Another free user has a counter of their own.
    await expect(openai.chat.completions.create(ask, as({ user: 'bob', tier: 'free' }))).resolves.toBeDefined();
  });

  it('downgrades a pro user to gpt-3.5-turbo once the monthly cost cap cannot hold another call, in x-tokenlay-model and the body', async () => {
    const clock = manualClock('2026-05-17T18:00:00Z');
    const { openai, provider } = await rig({ rules: readmeRules, store: 'memory', now: clock.now, prices });
    // Each call reserves its bound (input bounded, 5 output tokens: $3.30) and settles $2: after 24
    // calls the $2 left cannot hold a call's bound, so the 25th is downgraded rather than risk the cap.
    for (let i = 0; i < 24; i++) {
      const { data, response } = await openai.chat.completions.create(ask, as({ user: 'pia', tier: 'pro' })).withResponse();
      expect(data.model).toBe('gpt-4');
      expect(response.headers.get('x-tokenlay-cost')).toBe('2');
      expect(response.headers.get('x-tokenlay-limit-exceeded')).toBe('false');
    }
    const { data, response } = await openai.chat.completions.create(ask, as({ user: 'pia', tier: 'pro' })).withResponse();
    expect(data.model).toBe('gpt-3.5-turbo');
    expect(provider.requests.at(-1)!.body.model).toBe('gpt-3.5-turbo');
    expect(response.headers.get('x-tokenlay-model')).toBe('gpt-3.5-turbo');
    expect(response.headers.get('x-tokenlay-rule-action')).toBe('allow');
    expect(response.headers.get('x-tokenlay-limit-exceeded')).toBe('true');
    expect(response.headers.get('x-tokenlay-cost')).toBe('0.015');
    expect(warningsHeader(response)).toEqual([
      'rule "pro-tier": limit exceeded: $50 per month per user (user=pia: 48 used); downgraded to gpt-3.5-turbo',
    ]);
  });
});
