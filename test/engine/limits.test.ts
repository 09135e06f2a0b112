import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { as, hello, manualClock, movingClock, rig, warningsHeader } from './support.js';

const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('expected the call to be refused'); }, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
const requestsPerDay = (max: number, extra: object = {}) => ({
  rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max, window: 'day', per: 'user' }], ...extra } }],
});

describe('limits', () => {
  it('warns a pro user at 80 % of the cap before blocking them', async () => {
    const rules = { rules: [{ id: 'pro', if: { plan: 'pro' }, then: { limits: [{ type: 'requests', max: 10, window: 'month', per: 'user', warn_at: 0.8 }] } }] };
    const { openai } = await rig({ rules, store: 'memory', now: manualClock('2026-05-17T00:00:00Z').now });
    const warningsOf = async () => {
      const { response } = await openai.chat.completions.create(hello, as({ user: 'pat', plan: 'pro' })).withResponse();
      return warningsHeader(response);
    };
    for (let i = 1; i <= 7; i++) expect(await warningsOf()).toBeNull();
    expect(await warningsOf()).toEqual([
      'rule "pro": 80% of the limit reached: 10 requests per month per user (user=pat: 8 used); resets at 2026-06-01T00:00:00.000Z',
    ]);
    expect((await warningsOf())[0]).toContain('90% of the limit reached');
    expect((await warningsOf())[0]).toContain('100% of the limit reached');
    expect((await fail(openai.chat.completions.create(hello, as({ user: 'pat', plan: 'pro' })))).status).toBe(429);
  });

  it('rolls a day window over at 00:00 UTC and a month window on the 1st', async () => {
    const clock = manualClock('2026-01-31T23:59:59Z');
    const rules = {
      rules: [
        { id: 'day', if: { feature: 'daily' }, then: { limits: [{ type: 'requests', max: 2, window: 'day', per: 'user' }] } },
        { id: 'month', if: { feature: 'monthly' }, then: { limits: [{ type: 'requests', max: 1, window: 'month', per: 'user' }] } },
      ],
    };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    const call = (feature: string) => openai.chat.completions.create(hello, as({ user: 'u', feature }));
    await call('daily');
    await call('daily');
    await call('monthly');
    const dayBlocked = await fail(call('daily'));
    expect(dayBlocked.headers?.get('retry-after')).toBe('1');
    expect((await fail(call('monthly'))).headers?.get('retry-after')).toBe('1');

    clock.set('2026-02-01T00:00:00Z');
    await call('daily');
    await call('daily');
    await call('monthly');
    expect((await fail(call('daily'))).status).toBe(429);
    const monthBlocked = await fail(call('monthly'));
    expect((monthBlocked.error as any).tokenlay.limit.resets_at).toBe('2026-03-01T00:00:00Z');
    expect(monthBlocked.headers?.get('retry-after')).toBe(String(28 * 86400));

    clock.set('2026-02-28T23:59:59.999Z');
    expect((await fail(call('monthly'))).status).toBe(429);
    clock.set('2026-03-01T00:00:00Z');
    await expect(call('monthly')).resolves.toBeDefined();
  });

  it('answers a throttle with retry_after_seconds, the rule status and code, and lets the SDK retry it', async () => {
    const rules = requestsPerDay(1, {
      on_limit_exceeded: { action: 'block', retry_after_seconds: 600, http_status: 402, error_code: 'timeout_10_minutes', error_message: 'Take a break for 10 minutes.' },
    });
    const { openai } = await rig({ rules, store: 'memory' });
    await openai.chat.completions.create(hello, as({ user: 'u' }));
    const error = await fail(openai.chat.completions.create(hello, as({ user: 'u' })));
    expect(error.status).toBe(402);
    expect(error.headers?.get('retry-after')).toBe('600');
    expect(error.headers?.get('x-should-retry')).toBeNull();
    expect(error.error).toMatchObject({ code: 'timeout_10_minutes', message: 'Take a break for 10 minutes.' });
  });

  it('omits x-should-retry for a per-minute limit, which frees soon', async () => {
    const clock = manualClock('2026-05-17T10:00:30Z');
    const rules = { rules: [{ id: 'rpm', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'minute', per: 'user' }] } }] };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    await openai.chat.completions.create(hello, as({ user: 'u' }));
    const error = await fail(openai.chat.completions.create(hello, as({ user: 'u' })));
    expect(error.headers?.get('x-should-retry')).toBeNull();
    expect(error.headers?.get('retry-after')).toBe('30');
  });

  it('blocks outright with then.action: block, never reaching the provider', async () => {
    const rules = { rules: [{ id: 'banned', description: 'suspended accounts', if: { plan: 'suspended' }, then: { action: 'block' } }] };
    const { openai, chatCalls } = await rig({ rules, store: 'memory' });
    const error = await fail(openai.chat.completions.create(hello, as({ user: 'u', tier: 'suspended' })));
    expect(error.status).toBe(403);
    expect(error.headers?.get('x-tokenlay-rule-action')).toBe('block');
    expect(error.headers?.get('x-tokenlay-limit-exceeded')).toBe('false');
    expect(error.error).toMatchObject({ type: 'tokenlay_blocked', code: 'blocked_by_rule', message: 'tokenlay: rule "banned" (suspended accounts) blocks this call.' });
    expect(chatCalls()).toBe(0);
  });

  it('answers over a limit with on_limit_exceeded: warn, and says so', async () => {
    const { openai, chatCalls } = await rig({ rules: requestsPerDay(1, { on_limit_exceeded: { action: 'warn' } }), store: 'memory' });
    await openai.chat.completions.create(hello, as({ user: 'u' }));
    const { response } = await openai.chat.completions.create(hello, as({ user: 'u' })).withResponse();
    expect(response.headers.get('x-tokenlay-rule-action')).toBe('warn');
    expect(response.headers.get('x-tokenlay-limit-exceeded')).toBe('true');
    expect(warningsHeader(response)).toEqual(['rule "daily": limit exceeded: 1 requests per day per user (user=u: 1 used)']);
    expect(chatCalls()).toBe(2);
  });

  it('queues a call until a concurrency slot frees, then answers it', async () => {
    const rules = { rules: [{ id: 'one-at-a-time', if: {}, then: { limits: [{ type: 'concurrent', max: 1, per: 'user' }], on_limit_exceeded: { action: 'queue', delay_seconds: 5 } } }] };
    const clock = manualClock(new Date().toISOString());
    let arrived!: () => void;
    const slowArrived = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const slowHeld = new Promise<void>((r) => (release = r));
    const { openai, provider } = await rig({ rules, store: 'memory', now: clock.now, sleep: clock.sleep }, {
      behavior: (r) => {
        if (r.body?.messages?.[0]?.content !== 'slow') return undefined;
        arrived();
        return { kind: 'hold', until: slowHeld };
      },
    });
    const slow = openai.chat.completions.create({ ...hello, messages: [{ role: 'user', content: 'slow' }] }, as({ user: 'u' }));
    await slowArrived;
    // The second call finds the slot taken and waits on the engine's clock.
    const firstWait = clock.sleeping();
    const queued = openai.chat.completions.create(hello, as({ user: 'u' })).withResponse();
    expect(await firstWait).toBe(20);
    // While the slow call holds the slot, each retry is refused and the queue waits longer.
    const secondWait = clock.sleeping();
    clock.advance(20);
    expect(await secondWait).toBe(30);
    release();
    await slow;
    clock.advance(30);
    const { response } = await queued;
    expect(response.headers.get('x-tokenlay-rule-action')).toBe('queue');
    expect(warningsHeader(response)[0]).toMatch(/^rule "one-at-a-time": queued 50 ms for 1 concurrent calls per user/);
    // The queued call reached the provider only after the slow one had been answered.
    expect(provider.requests.map((r) => r.body.messages[0].content)).toEqual(['slow', 'Say hello.']);
  });

  it('blocks a queued call when delay_seconds pass on the engine clock, reported as queue', async () => {
    const rules = { rules: [{ id: 'q', if: {}, then: { action: 'queue', limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] } }] };
    const doc = { rules: [{ ...rules.rules[0], then: { ...rules.rules[0]!.then, on_limit_exceeded: { action: 'queue', delay_seconds: 0.2 } } }] };
    const clock = movingClock();
    const { openai, chatCalls } = await rig({ rules: doc, store: 'memory', now: clock.now, sleep: clock.sleep });
    await openai.chat.completions.create(hello, as({ user: 'u' }));
    const started = clock.now();
    const error = await fail(openai.chat.completions.create(hello, as({ user: 'u' })));
    // 20 + 30 + 45 + 67.5 ms, then what is left of the 200.
    expect(clock.now() - started).toBe(200);
    expect(error.status).toBe(429);
    expect(error.headers?.get('x-tokenlay-rule-action')).toBe('queue');
    expect(chatCalls()).toBe(1);
  });

  it('counts calls without the per field under one shared (none) counter', async () => {
    const { openai } = await rig({ rules: requestsPerDay(2), store: 'memory' });
    await openai.chat.completions.create(hello);
    await openai.chat.completions.create(hello, as({ plan: 'free' }));
    const error = await fail(openai.chat.completions.create(hello));
    expect((error.error as any).tokenlay.limit).toMatchObject({ per: 'user', current: 2 });
    expect(error.message).toContain('user=(none)');
    await expect(openai.chat.completions.create(hello, as({ user: 'named' }))).resolves.toBeDefined();
  });

  it('counts per a list of fields and routes through usage read-outs', async () => {
    const rules = {
      rules: [
        { id: 'big-spender', priority: 10, if: { 'usage.day.requests': { gte: 2 } }, then: { model: 'gpt-4o-mini' } },
        { id: 'per-team-user', if: {}, then: { model: 'gpt-4o', limits: [{ type: 'requests', max: 3, window: 'day', per: ['org', 'user'] }] } },
      ],
    };
    const { openai, provider } = await rig({ rules, store: 'memory' });
    // No model: the matched rule routes the call.
    const big = { messages: hello.messages } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const r1 = await openai.chat.completions.create(big, as({ user: 'u', org: 'a' })).withResponse();
    const r2 = await openai.chat.completions.create(big, as({ user: 'u', org: 'b' })).withResponse();
    const r3 = await openai.chat.completions.create(big, as({ user: 'u', org: 'a' })).withResponse();
    expect([r1, r2, r3].map((r) => r.response.headers.get('x-tokenlay-rule-id'))).toEqual(['per-team-user', 'per-team-user', 'big-spender']);
    expect(r3.response.headers.get('x-tokenlay-model')).toBe('gpt-4o-mini');
    expect(provider.requests.map((r) => r.body.model)).toEqual(['gpt-4o', 'gpt-4o', 'gpt-4o-mini']);
  });

  it("routes on usage.cost, the calling user's settled cost this UTC month", async () => {
    const clock = manualClock('2026-05-31T12:00:00Z');
    const rules = {
      rules: [
        { id: 'thrifty', priority: 10, if: { 'usage.cost': { gte: 4 } }, then: { model: 'gpt-4o-mini' } },
        { id: 'default', if: {}, then: { model: 'gpt-4o' } },
      ],
    };
    // $2 per call on gpt-4o (10 input + 5 output tokens from the stand-in).
    const prices = { 'gpt-4o': { input: 100_000, output: 200_000 }, 'gpt-4o-mini': { input: 1, output: 1 } };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now, prices });
    const routed = { messages: hello.messages } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const ruleFor = async (user: string) => (await openai.chat.completions.create(routed, as({ user })).withResponse()).response.headers.get('x-tokenlay-rule-id');
    expect([await ruleFor('ada'), await ruleFor('ada'), await ruleFor('ada')]).toEqual(['default', 'default', 'thrifty']);
    expect(await ruleFor('bea')).toBe('default');
    clock.set('2026-06-01T00:00:00Z');
    expect(await ruleFor('ada')).toBe('default');
  });

  it('answers with a warning when the rule action is warn', async () => {
    const rules = { rules: [{ id: 'watch', description: 'beta feature under review', if: { feature: 'beta' }, then: { action: 'warn' } }] };
    const { openai } = await rig({ rules, store: 'memory' });
    const { response } = await openai.chat.completions.create(hello, as({ feature: 'beta' })).withResponse();
    expect(response.headers.get('x-tokenlay-rule-action')).toBe('warn');
    expect(warningsHeader(response)).toEqual(['rule "watch" flags this call: beta feature under review']);
  });
});
