import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { as, hello, manualClock, rig } from './support.js';

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
const limitOf = (e: InstanceType<typeof OpenAI.APIError>) => (e.error as any).tokenlay.limit;

describe('windows on each customer’s own dates', () => {
  it('resets a month on the billing date in the rule, across a month end and into a leap February', async () => {
    const clock = manualClock('2028-01-30T10:00:00Z');
    const rules = { rules: [{ id: 'plan', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'month', per: 'user', billing_anchor: '2026-11-30' }] } }] };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    const call = () => openai.chat.completions.create(hello, as({ user: 'ann' }));
    await call();
    // The calendar month ends; the billing month does not.
    clock.set('2028-02-01T00:00:00Z');
    const blocked = await refusal(call());
    expect(limitOf(blocked).resets_at).toBe('2028-02-29T00:00:00Z');
    clock.set('2028-02-28T23:59:59Z');
    expect((await refusal(call())).status).toBe(429);
    // A February without a 30th starts the billing month on its last day, the leap day.
    clock.set('2028-02-29T00:00:00Z');
    await expect(call()).resolves.toBeDefined();
    const next = await refusal(call());
    expect(limitOf(next).resets_at).toBe('2028-03-30T00:00:00Z');
  });

  it('takes each user’s own billing date from a field of the call', async () => {
    const clock = manualClock('2026-12-16T12:00:00Z');
    const rules = {
      fields: ['billing_date'],
      rules: [{ id: 'plan', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'month', per: 'user', billing_anchor: 'billing_date' }] } }],
    };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    const call = (user: string, billing_date: string) => openai.chat.completions.create(hello, as({ user, billing_date }));
    await call('ann', '2026-11-17');
    await call('bob', '2026-03-05');
    expect(limitOf(await refusal(call('ann', '2026-11-17'))).resets_at).toBe('2026-12-17T00:00:00Z');
    expect(limitOf(await refusal(call('bob', '2026-03-05'))).resets_at).toBe('2027-01-05T00:00:00Z');
    clock.set('2026-12-17T00:00:00Z');
    await expect(call('ann', '2026-11-17')).resolves.toBeDefined();
    expect((await refusal(call('bob', '2026-03-05'))).status).toBe(429);
  });

  it('counts the last 24 hours across a month end, freeing each hour’s calls a day later', async () => {
    const clock = manualClock('2026-02-28T22:10:00Z');
    const rules = { rules: [{ id: 'day', if: {}, then: { limits: [{ type: 'requests', max: 2, window: 'last_24h', per: 'user' }] } }] };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    const call = () => openai.chat.completions.create(hello, as({ user: 'ann' }));
    await call();
    clock.set('2026-03-01T05:00:00Z');
    await call();
    const blocked = await refusal(call());
    expect(limitOf(blocked).window).toBe('last_24h');
    // The 22:00 hour of 28 February leaves the window once all of it is 24 hours old: at 23:00 on 1 March.
    expect(limitOf(blocked).resets_at).toBe('2026-03-01T23:00:00Z');
    expect(blocked.message).toContain('2 requests in the last 24 hours per user');
    clock.set('2026-03-01T22:59:59Z');
    expect((await refusal(call())).status).toBe(429);
    clock.set('2026-03-01T23:00:00Z');
    await expect(call()).resolves.toBeDefined();
    expect((await refusal(call())).status).toBe(429);
  });

  it('counts the last 30 days across a leap day', async () => {
    const clock = manualClock('2028-02-01T12:00:00Z');
    const rules = { rules: [{ id: 'thirty', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'last_30d', per: 'user' }] } }] };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    const call = () => openai.chat.completions.create(hello, as({ user: 'ann' }));
    await call();
    // 29 days in, the leap day: still inside the 30 days; the day of the call leaves 30 whole days after it ended.
    clock.set('2028-02-29T23:00:00Z');
    expect(limitOf(await refusal(call())).resets_at).toBe('2028-03-03T00:00:00Z');
    clock.set('2028-03-02T23:59:59Z');
    expect((await refusal(call())).status).toBe(429);
    clock.set('2028-03-03T00:00:00Z');
    await expect(call()).resolves.toBeDefined();
  });

  it('takes a user’s own billing date on the 31st across a month end into a leap February', async () => {
    const clock = manualClock('2028-01-30T12:00:00Z');
    const rules = {
      fields: ['billing_date'],
      rules: [{ id: 'plan', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'month', per: 'user', billing_anchor: 'billing_date' }] } }],
    };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    const call = () => openai.chat.completions.create(hello, as({ user: 'ann', billing_date: '2027-01-31' }));
    await call();
    // 31 January starts her next month.
    expect(limitOf(await refusal(call())).resets_at).toBe('2028-01-31T00:00:00Z');
    clock.set('2028-01-31T00:00:00Z');
    await call();
    // February has no 31st: her month starts on its last day, the leap day.
    clock.set('2028-02-28T23:59:59Z');
    expect(limitOf(await refusal(call())).resets_at).toBe('2028-02-29T00:00:00Z');
    clock.set('2028-02-29T00:00:00Z');
    await expect(call()).resolves.toBeDefined();
    expect(limitOf(await refusal(call())).resets_at).toBe('2028-03-31T00:00:00Z');
  });

  it('counts the last 24 hours across a leap day and the month end after it', async () => {
    const clock = manualClock('2028-02-28T22:10:00Z');
    const rules = { rules: [{ id: 'day', if: {}, then: { limits: [{ type: 'requests', max: 2, window: 'last_24h', per: 'user' }] } }] };
    const { openai } = await rig({ rules, store: 'memory', now: clock.now });
    const call = () => openai.chat.completions.create(hello, as({ user: 'ann' }));
    await call();
    clock.set('2028-02-29T05:00:00Z');
    await call();
    // The 22:00 hour of 28 February leaves the window at 23:00 on the leap day.
    clock.set('2028-02-29T22:59:59Z');
    expect(limitOf(await refusal(call())).resets_at).toBe('2028-02-29T23:00:00Z');
    clock.set('2028-02-29T23:00:00Z');
    await expect(call()).resolves.toBeDefined();
    // Then the leap day's 05:00 hour, on 1 March; then its 23:00 hour, on 2 March.
    expect(limitOf(await refusal(call())).resets_at).toBe('2028-03-01T06:00:00Z');
    clock.set('2028-03-01T06:00:00Z');
    await expect(call()).resolves.toBeDefined();
    expect(limitOf(await refusal(call())).resets_at).toBe('2028-03-02T00:00:00Z');
  });
});
