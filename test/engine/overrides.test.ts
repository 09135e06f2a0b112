import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { TokenlayOverrideInputError } from '../../src/engine/override-input.js';
import { runWithTokenlay, TokenlayLimitError, TokenlayOpenAI } from '../../src/index.js';
import { startProvider } from '../support/provider.js';
import { as, hello, manualClock, onCleanup, PROVIDER_KEY, rig, tempDir } from './support.js';

const perUser = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] } }] };

async function answered(openai: OpenAI, fields: Record<string, string>, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      await openai.chat.completions.create(hello, as(fields));
      ok++;
    } catch (err) {
      if (!(err instanceof OpenAI.RateLimitError)) throw err;
    }
  }
  return ok;
}

describe('limits set at run time on the engine handle', () => {
  it('limits.set raises one user\'s limit at once, leaves the others on the rules file, and limits.clear puts it back', async () => {
    const { fetch, openai } = await rig({ rules: perUser, store: 'memory' });
    const { limits } = fetch.engine;
    expect(await answered(openai, { user: 'alice' }, 2)).toBe(1);
    const set = await limits.set({ user: 'alice', type: 'requests', max: 3, window: 'day', note: 'support ticket 42', by: 'ops@acme' });
    expect(set).toMatchObject({ account: '', target: 'user', value: 'alice', type: 'requests', max: 3, window: 'day', until: null, note: 'support ticket 42', setBy: 'ops@acme' });
    // The same counter: alice's one call so far counts against her new limit of 3.
    expect(await answered(openai, { user: 'alice' }, 3)).toBe(2);
    expect(await answered(openai, { user: 'bob' }, 2)).toBe(1);
    expect(await limits.list()).toHaveLength(1);

    await limits.set({ user: 'alice', type: 'requests', max: 5, window: 'day' });
    expect(await answered(openai, { user: 'alice' }, 3)).toBe(2);
    expect(await limits.clear({ user: 'alice', type: 'requests', by: 'ops@acme' })).toBe(true);
    expect(await limits.clear({ user: 'alice', type: 'requests' })).toBe(false);
    expect(await answered(openai, { user: 'alice' }, 1)).toBe(0);
    expect(await limits.list()).toEqual([]);

    const audit = await limits.audit();
    expect(audit.map((e) => [e.action, e.by, e.max])).toEqual([
      ['clear', 'ops@acme', 5],
      ['set', 'app', 5],
      ['set', 'ops@acme', 3],
    ]);
    expect(audit[2]).toMatchObject({ target: 'user', value: 'alice', type: 'requests', window: 'day', note: 'support ticket 42' });
    expect(typeof audit[0]!.time).toBe('number');
  });

  it('the budget read-out (getTokenlayBudget, GET /v1/budget) shows the override in force and a credits balance', async () => {
    const rules = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }, { type: 'credits', per: 'user' }] } }] };
    const { fetch } = await rig({ rules, store: 'memory', now: () => Date.parse('2026-12-01T10:00:00Z') });
    const { engine } = fetch;
    await engine.limits.set({ user: 'alice', type: 'requests', max: 3, window: 'day' });
    await engine.credits.add({ user: 'alice', usd: 10 });
    const alice = await engine.budget({ user: 'alice' });
    expect(alice.find((l) => l.type === 'requests')).toMatchObject({ ruleId: 'daily', window: 'day', max: 3, used: 0, remaining: 3 });
    expect(alice.find((l) => l.type === 'credits')).toMatchObject({ ruleId: 'daily', max: 10, used: 0, remaining: 10 });
    // Bob has neither: the rules file's limit, and no balance.
    const bob = await engine.budget({ user: 'bob' });
    expect(bob.find((l) => l.type === 'requests')).toMatchObject({ max: 1, remaining: 1 });
    expect(bob.find((l) => l.type === 'credits')).toMatchObject({ max: 0, remaining: 0 });
  });

  it('an override with until applies up to that date and not after it', async () => {
    const clock = manualClock('2027-01-30T10:00:00Z');
    const { fetch, openai } = await rig({ rules: perUser, store: 'memory', now: clock.now });
    await fetch.engine.limits.set({ user: 'alice', type: 'requests', max: 2, window: 'day', until: '2027-01-31' });
    expect(await answered(openai, { user: 'alice' }, 3)).toBe(2);
    // 2027-01-31 means the end of that day, UTC.
    clock.set('2027-01-31T23:59:00Z');
    expect(await answered(openai, { user: 'alice' }, 3)).toBe(2);
    clock.set('2027-02-01T00:00:01Z');
    expect(await answered(openai, { user: 'alice' }, 3)).toBe(1);
  });

  it('an org override changes the org\'s limit; a plan override of a type the rule does not limit adds one', async () => {
    const rules = { rules: [{ id: 'team', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'org' }] } }] };
    const { fetch, openai } = await rig({ rules, store: 'memory' });
    await fetch.engine.limits.set({ org: 'acme', type: 'requests', max: 3, window: 'day' });
    expect(await answered(openai, { org: 'acme', user: 'a' }, 4)).toBe(3);
    expect(await answered(openai, { org: 'globex', user: 'a' }, 2)).toBe(1);
    // A token limit the rule has none of: added for the plan's calls, counted per plan.
    await fetch.engine.limits.set({ plan: 'free', type: 'tokens', max: 1, window: 'day' });
    expect(await answered(openai, { org: 'initech', plan: 'free' }, 1)).toBe(0);
    expect(await answered(openai, { org: 'initech', plan: 'pro' }, 1)).toBe(1);
  });

  it('raises a rolling window\'s limit on the same window, so what was spent in it counts', async () => {
    const clock = manualClock('2026-12-07T10:00:00Z');
    const rules = { rules: [{ id: 'rolling', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'last_24h', per: 'user' }] } }] };
    const { fetch, openai } = await rig({ rules, store: 'memory', now: clock.now });
    expect(await answered(openai, { user: 'alice' }, 2)).toBe(1);
    const set = await fetch.engine.limits.set({ user: 'alice', type: 'requests', max: 3, window: 'last_24h' });
    expect(set.window).toBe('last_24h');
    expect(await answered(openai, { user: 'alice' }, 3)).toBe(2);
    expect((await fetch.engine.budget({ user: 'alice' }))[0]).toMatchObject({ window: 'last_24h', max: 3, used: 3, remaining: 0 });
    // The window still rolls: the 10:00 hour's calls leave it at 11:00 the next day.
    clock.set('2026-12-08T11:00:00Z');
    expect(await answered(openai, { user: 'alice' }, 4)).toBe(3);
    await expect(fetch.engine.limits.set({ user: 'alice', type: 'requests', max: 3, window: 'last_400d' })).rejects.toThrow(
      'tokenlay limits: window must be one of minute, hour, day, month, year, total, or a rolling window last_<n>h (n from 1 to 168) or last_<n>d (n from 1 to 90) (e.g. --window month); got "last_400d".',
    );
  });

  it('applies to calls no rule matched, and without any rules file', async () => {
    const { fetch, openai } = await rig({ store: 'memory' });
    expect(await answered(openai, { user: 'carol' }, 2)).toBe(2);
    await fetch.engine.limits.set({ user: 'carol', type: 'requests', max: 1, window: 'hour' });
    expect(await answered(openai, { user: 'carol' }, 2)).toBe(1);
    expect(await answered(openai, { user: 'dave' }, 2)).toBe(2);
  });

  it('is kept in the SQLite file and reaches a second engine on it within 5 s', async () => {
    const store = `sqlite:${join(tempDir(), 'usage.db')}`;
    const first = await rig({ rules: perUser, store });
    const second = await rig({ rules: perUser, store });
    expect(await answered(second.openai, { user: 'alice' }, 2)).toBe(1);
    await first.fetch.engine.limits.set({ user: 'alice', type: 'requests', max: 9, window: 'day', by: 'first' });
    const started = Date.now();
    await expect.poll(() => answered(second.openai, { user: 'alice' }, 1), { timeout: 5000, interval: 200 }).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await second.fetch.engine.limits.list()).map((o) => o.max)).toEqual([9]);
    expect((await second.fetch.engine.limits.audit())[0]).toMatchObject({ action: 'set', by: 'first', value: 'alice' });
  });

  it('refuses bad input with what was wrong, the value and the fix', async () => {
    const { fetch } = await rig({ store: 'memory', now: () => Date.parse('2026-12-01T00:00:00Z') });
    const { limits } = fetch.engine;
    const cases: Array<[object, string, RegExp]> = [
      [{ type: 'cost', max: 5, window: 'month' }, 'user', /exactly one of user, org or plan.*got none/],
      [{ user: 'a', org: 'b', type: 'cost', max: 5, window: 'month' }, 'user', /got user and org/],
      [{ user: 'a', type: 'dollars', max: 5, window: 'month' }, 'type', /type must be one of requests, tokens, cost, concurrent.*"dollars"/],
      [{ user: 'a', type: 'cost', max: -1, window: 'month' }, 'max', /max must be a number ≥ 0.*-1/],
      [{ user: 'a', type: 'requests', max: 1.5, window: 'month' }, 'max', /whole requests.*1\.5/],
      [{ user: 'a', type: 'cost', max: 5, window: 'fortnight' }, 'window', /window must be one of .*"fortnight"/],
      [{ user: 'a', type: 'cost', max: 5 }, 'window', /--window month/],
      [{ user: 'a', type: 'cost', max: 5, window: 'month', until: 'soon' }, 'until', /until must be a date.*"soon"/],
      [{ user: 'a', type: 'cost', max: 5, window: 'month', until: '2026-01-31' }, 'until', /already past/],
      [{ user: 'a', type: 'cost', max: 5, window: 'month', until: '2027-02-30' }, 'until', /no such day.*"2027-02-30"/],
      [{ user: 'a', type: 'cost', max: 5, window: 'month', until: '2027-04-31T12:00:00Z' }, 'until', /no such day.*"2027-04-31T12:00:00Z"/],
      [{ user: '', type: 'cost', max: 5, window: 'month' }, 'user', /non-empty string/],
    ];
    for (const [input, field, message] of cases) {
      const error = await limits.set(input as never).catch((e: unknown) => e);
      expect(error, JSON.stringify(input)).toBeInstanceOf(TokenlayOverrideInputError);
      expect((error as TokenlayOverrideInputError).field).toBe(field);
      expect((error as Error).message).toMatch(message);
    }
    await expect(limits.clear({ user: 'a', type: 'credits' })).rejects.toThrow(/credits add/);
    expect(await limits.list()).toEqual([]);
  });
});

describe('the engine handle of an embedded TokenlayOpenAI', () => {
  it('openai.tokenlayEngine.limits changes the limits of the client\'s own engine, on its memory store too', async () => {
    const provider = await startProvider();
    onCleanup(() => provider.close());
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy: perUser, store: 'memory' });
    onCleanup(() => openai.close());
    const engine = openai.tokenlayEngine!;
    expect(engine).toBeDefined();
    const ask = () => runWithTokenlay({ user: 'alice' }, () => openai.chat.completions.create(hello));
    await ask();
    await expect(ask()).rejects.toBeInstanceOf(TokenlayLimitError);
    await engine.limits.set({ user: 'alice', type: 'requests', max: 2, window: 'day' });
    expect(await engine.limits.list()).toMatchObject([{ value: 'alice', max: 2 }]);
    await expect(ask()).resolves.toBeDefined();
    await expect(ask()).rejects.toBeInstanceOf(TokenlayLimitError);
    expect(await engine.limits.clear({ user: 'alice', type: 'requests' })).toBe(true);
    // A copy shares the engine; a remote client has none of its own.
    expect(openai.withOptions({ timeout: 5000 }).tokenlayEngine).toBe(engine);
    expect(new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: 'tl_x', tokenlayBaseUrl: 'http://127.0.0.1:9' }).tokenlayEngine).toBeUndefined();
  });
});
