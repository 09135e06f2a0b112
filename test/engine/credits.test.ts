import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { TokenlayOverrideInputError } from '../../src/engine/override-input.js';
import { createPricer, reservationEstimate } from '../../src/metering/index.js';
import type { TokenlayRulesError} from '../../src/policy/index.js';
import { validateRules } from '../../src/policy/index.js';
import { costUnits } from '../../src/store/money.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createMemoryOverrideStore } from '../../src/store/overrides.js';
import { summarizeUsage } from '../../src/store/usage-summary.js';
import type { LedgerRow } from '../../src/store/types.js';
import { honestUsage } from '../support/honest-usage.js';
import { startProvider } from '../support/provider.js';
import { REDIS_URL, useRedisPrefixes } from '../store/services.js';
import { as, hello, onCleanup, PROVIDER_KEY, rig, tempDir } from './support.js';

const credits = { rules: [{ id: 'prepaid', if: {}, then: { limits: [{ type: 'credits', per: 'user' }] } }] };
// $0.10 per input token and $0.20 per output token, so that a few calls spend a balance.
const prices = { 'gpt-4o-mini': { input: 100_000, output: 200_000 } };
const body = { model: 'gpt-4o-mini', max_tokens: 200, messages: [{ role: 'user' as const, content: 'Summarise the quarter in three points.' }] };
const GRANT = 30;
const prefixes = useRedisPrefixes();

const exactSum = (rows: LedgerRow[]) => rows.reduce((sum, r) => sum + costUnits(r.cost), 0);
const calls = (rows: LedgerRow[]) => rows.filter((r) => r.action !== 'credit');

describe('credits: a prepaid balance drawn down by a credits limit', () => {
  it('refuses a user with no balance, draws a grant down, and records the grant and each use in the ledger', async () => {
    const { fetch, openai } = await rig({ rules: credits, store: 'memory', prices }, { usage: { prompt: 10, completion: 5 } });
    const refused = await openai.chat.completions.create(hello, as({ user: 'alice' })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(JSON.stringify((refused as InstanceType<typeof OpenAI.RateLimitError>).error)).toMatch(/credits/);
    // The refusal says the balance in USD and how to top it up, not "allows 0 credits".
    expect((refused as Error).message).toMatch(/allows \$0 of credits in total per user \(user=alice: \$0 used\)\. Add credits with: tokenlay credits add --user alice --usd AMOUNT \(or engine\.credits\.add\(\), POST \/v1\/admin\/credits\)\./);

    const after = await fetch.engine.credits.add({ user: 'alice', usd: 10, by: 'billing', note: 'order 17' });
    expect(after).toMatchObject({ target: 'user', value: 'alice', account: '', granted: 10, used: 0, remaining: 10 });
    await openai.chat.completions.create(hello, as({ user: 'alice' }));
    // 10 input tokens at $0.10 and 5 output tokens at $0.20.
    const balance = await fetch.engine.credits.balance({ user: 'alice' });
    expect(balance).toMatchObject({ granted: 10, used: 2, reserved: 0, remaining: 8 });
    expect((await fetch.engine.credits.balance({ user: 'bob' })).remaining).toBe(0);

    await fetch.engine.flush();
    const rows = await fetch.engine.store.ledger({ fields: { user: 'alice' } });
    const grant = rows.find((r) => r.action === 'credit')!;
    expect(grant).toMatchObject({ endpoint: 'tokenlay:credits', cost: 0, fields: { user: 'alice', credit_usd: '10', credit_by: 'billing' } });
    expect(calls(rows).filter((r) => r.status === 200).map((r) => r.cost)).toEqual([2]);
    // A grant is not a call: usage summaries leave it out.
    const usage = await summarizeUsage(fetch.engine.store, { groupBy: 'user' });
    expect(usage.find((u) => u.user === 'alice')).toMatchObject({ cost: 2 });
    expect((await fetch.engine.limits.audit())[0]).toMatchObject({ action: 'credit', by: 'billing', usd: 10, note: 'order 17' });
  });

  it('when the balance cannot hold a call, on_limit_exceeded applies: warn lets it through without drawing the balance', async () => {
    const rules = { rules: [{ id: 'prepaid', if: {}, then: { limits: [{ type: 'credits', per: 'org' }], on_limit_exceeded: { action: 'warn' } } }] };
    const { fetch, openai } = await rig({ rules, store: 'memory', prices }, { usage: { prompt: 10, completion: 5 } });
    // Room for one call's prompt and a short answer, and $1.50 more: after one call of $2, not enough for another.
    const short = reservationEstimate('gpt-4o-mini', { ...hello, max_tokens: 16 }, createPricer({ overrides: prices })).cost;
    const grant = Math.round((short + 1.5) * 100) / 100;
    await fetch.engine.credits.add({ org: 'acme', usd: grant });
    const first = await openai.chat.completions.create(hello, as({ org: 'acme' })).withResponse();
    expect(first.response.headers.get('x-tokenlay-limit-exceeded')).not.toBe('true');
    const left = await fetch.engine.credits.balance({ org: 'acme' });
    expect(left).toMatchObject({ used: 2 });
    expect(left.remaining).toBeLessThan(short);
    // What is left cannot hold the prompt and a short answer: over the limit, warned, and not paid from the balance.
    const second = await openai.chat.completions.create(hello, as({ org: 'acme' })).withResponse();
    expect(second.response.headers.get('x-tokenlay-limit-exceeded')).toBe('true');
    expect(await fetch.engine.credits.balance({ org: 'acme' })).toEqual(left);
  });

  describe.each(['memory', 'sqlite', 'redis'])('100 concurrent calls (%s counters)', (kind) => {
    it('draw the balance down exactly: never below zero, the last calls clamped, used equal to the ledger to the unit', async () => {
      const provider = await startProvider({ usage: honestUsage(1_000), behavior: () => ({ kind: 'delay', ms: 10 }) });
      onCleanup(() => provider.close());
      const memory = createMemoryStore();
      onCleanup(() => memory.close());
      const store = kind === 'memory' ? memory : kind === 'sqlite' ? `sqlite:${join(tempDir(), 'usage.db')}` : `${REDIS_URL}?prefix=${encodeURIComponent(prefixes())}`;
      // Two engines on one store (two instances), sharing one override store: the balance is drawn atomically across both.
      const overrides = createMemoryOverrideStore();
      onCleanup(() => overrides.close());
      const engines = [0, 1].map(() => createEmbeddedFetch({ rules: credits, store, prices, overrides, ...(kind === 'redis' ? { ledger: 'memory' } : {}) }));
      for (const e of engines) onCleanup(() => e.close());
      await engines[0]!.engine.credits.add({ user: 'alice', usd: GRANT });
      await engines[1]!.engine.credits.balance({ user: 'alice' });
      const clients = engines.map((e) => new OpenAI({ apiKey: PROVIDER_KEY, baseURL: provider.base, fetch: e, maxRetries: 0 }));
      const bound = reservationEstimate('gpt-4o-mini', body, createPricer({ overrides: prices })).cost;
      expect(GRANT / bound).toBeLessThan(100);

      const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => clients[i % 2]!.chat.completions.create(body, as({ user: 'alice' })).withResponse()));
      const answered = results.filter((r) => r.status === 'fulfilled');
      expect(answered.length).toBeGreaterThan(0);
      const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof OpenAI.RateLimitError);
      expect(answered.length + refused.length).toBe(100);
      expect(refused.length).toBeGreaterThan(0);

      // Calls refused while others held reservations: more waves until the balance holds no call at all.
      let more = 0;
      for (let wave = 0; wave < 50; wave++) {
        const next = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => clients[i % 2]!.chat.completions.create(body, as({ user: 'alice' })).withResponse()));
        answered.push(...next.filter((r) => r.status === 'fulfilled'));
        more += next.length;
        if (next.every((r) => r.status === 'rejected')) break;
      }
      expect(more).toBeLessThan(500);
      // The last calls fitted only with a lower output limit.
      expect(answered.some((r) => r.value.response.headers.get('x-tokenlay-output-limit') !== null)).toBe(true);
      for (const e of engines) await e.engine.flush();
      const rows = kind === 'redis' ? [...(await engines[0]!.engine.store.ledger()), ...(await engines[1]!.engine.store.ledger())] : await engines[0]!.engine.store.ledger();
      const spent = calls(rows).filter((r) => r.fields.user === 'alice');
      const balance = await engines[1]!.engine.credits.balance({ user: 'alice' });
      expect(balance.reserved).toBe(0);
      expect(balance.granted).toBe(GRANT);
      // Every use is a ledger row, and the balance lost exactly what they cost.
      expect(costUnits(balance.used)).toBe(exactSum(spent));
      expect(costUnits(balance.used)).toBeLessThanOrEqual(costUnits(GRANT));
      expect(balance.remaining).toBeGreaterThanOrEqual(0);
      expect(costUnits(balance.remaining)).toBe(costUnits(GRANT) - costUnits(balance.used));
      // Drawn down: what is left cannot hold even a short answer (16 output tokens).
      const short = reservationEstimate('gpt-4o-mini', { ...body, max_tokens: 16 }, createPricer({ overrides: prices })).cost;
      expect(balance.remaining).toBeLessThan(short);
      expect(provider.requests).toHaveLength(answered.length);
    }, 60_000);
  });

  it('refuses bad credits input and a malformed credits limit with the fix', async () => {
    const { fetch } = await rig({ store: 'memory' });
    for (const [input, pattern] of [
      [{ user: 'alice', usd: -5 }, /usd must be a positive amount.*-5/],
      [{ user: 'alice', usd: 'ten' }, /usd must be a positive amount.*"ten"/],
      [{ plan: 'pro', usd: 5 }, /a user or an org, not a plan/],
      [{ usd: 5 }, /^tokenlay credits: name exactly one of user or org.*got none/],
      // Below the 1e-10 USD a balance is kept in: the grant would be $0 (or not what was asked).
      [{ user: 'alice', usd: 0.00000000001 }, /at most 10 decimals.*1e-11/],
      [{ user: 'alice', usd: '0.123456789012' }, /at most 10 decimals.*"0.123456789012"/],
    ] as const) {
      const error = await fetch.engine.credits.add(input as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenlayOverrideInputError);
      expect((error as Error).message).toMatch(pattern);
    }
    expect(await fetch.engine.credits.list()).toEqual([]);
    const problems = (limit: object) => {
      try {
        validateRules({ rules: [{ id: 'r', if: {}, then: { limits: [limit] } }] });
        return [];
      } catch (err) {
        return (err as TokenlayRulesError).problems.map(String);
      }
    };
    expect(problems({ type: 'credits', per: 'user' })).toEqual([]);
    expect(problems({ type: 'credits', per: 'user', max: 10 }).join()).toMatch(/no max: its balance is what was granted/);
    expect(problems({ type: 'credits', per: 'user', window: 'month' }).join()).toMatch(/never resets; remove window/);
    expect(problems({ type: 'credits', per: 'plan' }).join()).toMatch(/per: user or per: org/);
  });
});
