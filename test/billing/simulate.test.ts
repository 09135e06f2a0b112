/** The replay behind `tokenlay simulate`, on ledgers whose outcome can be worked out by hand. */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/billing/simulate.js';
import { loadRules } from '../../src/policy/load.js';
import type { LedgerRow } from '../../src/store/types.js';
import { createPricer } from '../../src/metering/prices.js';
import { formatUsd, costUnits } from '../../src/store/money.js';
import { runCli } from './ledger-fixture.js';

const T0 = Date.UTC(2026, 10, 10, 12);
const pricer = createPricer();
function call(user: string, plan: string, start: number, latency: number, extra: Partial<LedgerRow> = {}): LedgerRow {
  return {
    // The engine records a call at its start; it ran for its latency.
    time: T0 + start,
    fields: { user, plan },
    modelRequested: 'gpt-4o',
    modelUsed: 'gpt-4o',
    endpoint: '/v1/chat/completions',
    inputTokens: 1000,
    outputTokens: 500,
    cachedTokens: 0,
    cost: pricer.price('gpt-4o', { inputTokens: 1000, outputTokens: 500, cachedTokens: 0 }).cost,
    ruleId: null,
    action: 'allow',
    status: 200,
    latencyMs: latency,
    estimated: false,
    ...extra,
  };
}
const COST = pricer.price('gpt-4o', { inputTokens: 1000, outputTokens: 500, cachedTokens: 0 }).cost;
const MINI = pricer.price('gpt-4o-mini', { inputTokens: 1000, outputTokens: 500, cachedTokens: 0 }).cost;
const usd = (n: number) => formatUsd(BigInt(costUnits(n)));

describe('simulate', () => {
  it('queues calls past a concurrency limit, counting a call in flight from its arrival to its settlement', () => {
    // Three overlapping calls and a fourth after they ended: with 2 at a time, the third waits.
    const rows = [call('ann', 'team', 0, 1000), call('ann', 'team', 100, 1000), call('ann', 'team', 200, 1000), call('ann', 'team', 5000, 100)];
    const rules = loadRules({ version: '0.1', rules: [{ id: 'team', if: { plan: 'team' }, then: { limits: [{ type: 'concurrent', max: 2, window: 'total', per: ['user'] }], on_limit_exceeded: { action: 'queue', delay_seconds: 10 } } }] });
    const result = simulate(rows, rules, T0, T0 + 86_400_000);
    expect(result.users[0]).toMatchObject({ user: 'ann', calls: 4, allowed: 4, queued: 1, refused: 0, cost: usd(4 * COST) });
  });

  it('counts tokens against a limit with each call’s own usage, downgrades past it at the same usage, and refuses what a blocking rule blocks', () => {
    const rows = [call('bo', 'pro', 0, 10), call('bo', 'pro', 100, 10), call('bo', 'pro', 200, 10), call('cy', 'free', 0, 10)];
    const rules = loadRules({
      version: '0.1',
      rules: [
        { id: 'pro', if: { plan: 'pro' }, then: { limits: [{ type: 'tokens', max: 3000, window: 'day', per: ['user'] }], on_limit_exceeded: { action: 'downgrade', downgrade_to: 'gpt-4o-mini' } } },
        { id: 'free', if: { plan: 'free' }, then: { action: 'block' } },
      ],
      plans: { pro: { price: 30, period: 'month' }, free: { price: 0 } },
    });
    const result = simulate(rows, rules, T0, T0 + 3 * 86_400_000);
    const bo = result.users.find((u) => u.user === 'bo')!;
    // 1500 + 1500 tokens fit in 3000; the third would pass it.
    expect(bo).toMatchObject({ allowed: 3, downgraded: 1, refused: 0, cost: usd(2 * COST + MINI), costBefore: usd(3 * COST) });
    // Three days of a $30 month (30 days): $3 of revenue.
    expect(bo.revenue).toBe('3');
    expect(bo.margin).toBe(formatUsd(30_000_000_000n - BigInt(costUnits(2 * COST)) - BigInt(costUnits(MINI))));
    expect(result.users.find((u) => u.user === 'cy')).toMatchObject({ refused: 1, allowed: 0, cost: '0' });
    expect(result.plans.map((p) => p.plan)).toEqual(['free', 'pro']);
    expect(result.total).toMatchObject({ calls: 4, refused: 1, downgraded: 1 });
  });

  it('lets through a call the ledger has as refused when the new rules allow it, and says its usage is unknown', () => {
    const refused = call('di', 'free', 100, 1, { modelUsed: null, inputTokens: 0, outputTokens: 0, cost: 0, action: 'block', status: 429, ruleId: 'old' });
    const result = simulate([call('di', 'free', 0, 10), refused], loadRules({ version: '0.1', rules: [] }), T0, T0 + 86_400_000);
    expect(result.users[0]).toMatchObject({ calls: 2, allowed: 2, unknownUsage: 1, revenue: null, margin: null });
  });

  it('refuses, as the engine does (400 model_required), a call that named no model when the new rules route it nowhere', () => {
    // The ledger's calls named no model; the old rules routed them to gpt-4o. The new rules route pro only.
    const routed = (user: string, plan: string, start: number) => call(user, plan, start, 10, { modelRequested: null });
    const rows = [routed('ed', 'pro', 0), routed('flo', 'free', 100), call('flo', 'free', 200, 10), call('flo', 'free', 300, 10, { endpoint: '/v1/models', modelRequested: null, modelUsed: null, inputTokens: 0, outputTokens: 0, cost: 0 })];
    const rules = loadRules({ version: '0.1', rules: [{ id: 'pro', if: { plan: 'pro' }, then: { model: 'gpt-4o-mini' } }, { id: 'free', if: { plan: 'free' }, then: { limits: [{ type: 'requests', max: 10, window: 'day', per: ['user'] }] } }] });
    const result = simulate(rows, rules, T0, T0 + 86_400_000);
    expect(result.users.find((u) => u.user === 'ed')).toMatchObject({ allowed: 1, refused: 0, cost: usd(MINI) });
    // flo's first call named none and the free rule sets no model; the call that named gpt-4o and the
    // one to /v1/models (which needs no model) go through.
    expect(result.users.find((u) => u.user === 'flo')).toMatchObject({ calls: 3, allowed: 2, refused: 1, modelRequired: 1, cost: usd(COST) });
    expect(result.total.modelRequired).toBe(1);
  });

  it('answers bad input with the fix: no --rules, a missing file, a --from that is not a duration or a date', async () => {
    const noRules = await runCli(['simulate', '--from', '30d']);
    expect(noRules.code).toBe(1);
    expect(noRules.output).toMatch(/name the rules to try with --rules FILE/);
    const missing = await runCli(['simulate', '--rules', '/nonexistent/new.yaml', '--from', '30d']);
    expect(missing.output).toMatch(/--rules names "\/nonexistent\/new.yaml", and there is no file there/);
    const from = await runCli(['simulate', '--rules', 'examples/demo/tokenlay.rules.yaml', '--from', 'a month']);
    expect(from.output).toMatch(/--from "a month" is neither a duration nor a date; use 30d/);
  }, 60_000);
});
