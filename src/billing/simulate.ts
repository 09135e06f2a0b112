import { evaluateRules } from '../policy/evaluate.js';
import type { OnLimitExceeded, RulesDocument } from '../policy/types.js';
import type { ResolvedLimit } from '../policy/limits.js';
import type { Pricer } from '../metering/prices.js';
import { modelRequired } from '../policy/model.js';
import { pricerOf } from './rules-pricer.js';
import { capUnits, costUnits, formatUsd } from '../store/money.js';
import type { LedgerRow } from '../store/types.js';
import { isBlocked } from '../store/usage-breakdown.js';

/** What one user's (or plan's, or everyone's) calls would have become under the new rules. */
export interface SimulatedLine {
  /** Calls in the ledger (refused ones included). */
  calls: number;
  /** Calls the new rules let through to a provider (downgraded and queued ones included). */
  allowed: number;
  /** Calls the new rules refuse (a blocking rule, a limit that blocks, a queue that waits too long). */
  refused: number;
  /** Calls the new rules answer from another model (`downgrade`). */
  downgraded: number;
  /** Calls that wait for a slot (`queue`) and then run. */
  queued: number;
  /** Calls the ledger has as refused that the new rules let through: their usage is unknown, counted $0. */
  unknownUsage: number;
  /**
   * Of the refused: calls that named no model (the old rules routed them) and that no new rule
   * routes, which the engine answers 400 `model_required`.
   */
  modelRequired: number;
  /** What the calls cost in the ledger, USD (exact decimal string). */
  costBefore: string;
  /** What they would cost under the new rules, USD. */
  cost: string;
  /** The plan's revenue for the period simulated (USD; null when the plan is not in `plans:`). */
  revenue: string | null;
  /** revenue − cost (null without revenue). */
  margin: string | null;
  /** revenue − costBefore. */
  marginBefore: string | null;
}

export interface Simulation {
  from: number;
  to: number;
  users: Array<SimulatedLine & { user: string; plan: string }>;
  plans: Array<SimulatedLine & { plan: string; users: number }>;
  total: SimulatedLine & { users: number };
}

const DAY = 86_400_000;
/** A plan period's length for prorating its price (a month counts 30 days, a year 365). */
const PERIOD_MS = { day: DAY, week: 7 * DAY, month: 30 * DAY, year: 365 * DAY } as const;

interface Sums {
  calls: number;
  allowed: number;
  refused: number;
  downgraded: number;
  queued: number;
  unknownUsage: number;
  modelRequired: number;
  before: bigint;
  after: bigint;
  revenue: bigint | null;
}
const empty = (): Sums => ({ calls: 0, allowed: 0, refused: 0, downgraded: 0, queued: 0, unknownUsage: 0, modelRequired: 0, before: 0n, after: 0n, revenue: 0n });

function line(s: Sums): SimulatedLine {
  const revenue = s.revenue === null ? null : formatUsd(s.revenue);
  return {
    calls: s.calls,
    allowed: s.allowed,
    refused: s.refused,
    downgraded: s.downgraded,
    queued: s.queued,
    unknownUsage: s.unknownUsage,
    modelRequired: s.modelRequired,
    costBefore: formatUsd(s.before),
    cost: formatUsd(s.after),
    revenue,
    margin: s.revenue === null ? null : formatUsd(s.revenue - s.after),
    marginBefore: s.revenue === null ? null : formatUsd(s.revenue - s.before),
  };
}

function add(into: Sums, from: Sums): void {
  into.calls += from.calls;
  into.allowed += from.allowed;
  into.refused += from.refused;
  into.downgraded += from.downgraded;
  into.queued += from.queued;
  into.unknownUsage += from.unknownUsage;
  into.modelRequired += from.modelRequired;
  into.before += from.before;
  into.after += from.after;
  into.revenue = into.revenue === null || from.revenue === null ? null : into.revenue + from.revenue;
}

/**
 * Replays the ledger's calls in [from, to) under other rules, in the order they arrived (a row's
 * time, which is the call's start; it ran for its latency), with counters of its own, as the
 * engine admits them:
 *
 * - a `requests` limit admits while the count stays within max; `tokens` and `cost` while what was
 *   spent plus the call's own usage (tokens from the ledger, priced on the model it would run on)
 *   stays within max (the engine's reservation and output clamp keep a cap from being passed);
 *   `concurrent` while fewer than max calls of its key are in flight (from arrival to settlement);
 * - when one is full, `on_limit_exceeded` decides: `block` refuses, `downgrade` runs the call on
 *   `downgrade_to` (counted, not checked), `warn` runs it, `queue` waits for a concurrency slot
 *   (any other full limit: refused once the wait is over);
 * - a rule with `action: block` refuses; a rule's `model` routes calls that named none, and a call
 *   that named none with no rule to route it is refused (the engine's 400 `model_required`).
 *
 * Tokens are the ledger's: a downgraded call is priced on its new model with the same usage; a call
 * the ledger has as refused and the new rules let through has no known usage (counted $0, listed as
 * `unknownUsage`). Revenue is each user's plan price (`plans:`), prorated to the period simulated.
 */
export function simulate(rows: LedgerRow[], rules: RulesDocument, from: number, to: number, pricer: Pricer = pricerOf(rules)): Simulation {
  const order = rows
    // A row's time is when the call arrived (the engine's start); it ran for its latency.
    .map((row, i) => ({ row, i, start: row.time, end: row.time + Math.max(0, row.latencyMs) }))
    .sort((a, b) => a.start - b.start || a.i - b.i);
  const used = new Map<string, number>();
  const inFlight = new Map<string, number[]>();
  const byUser = new Map<string, Sums>();
  const planOf = new Map<string, string>();

  for (const { row, start, end } of order) {
    const user = row.fields.user ?? '(none)';
    planOf.set(user, row.fields.plan ?? '(none)');
    let s = byUser.get(user);
    if (!s) byUser.set(user, (s = empty()));
    s.calls += 1;
    const before = BigInt(costUnits(row.cost));
    s.before += before;
    const known = !isBlocked(row);
    const decision = evaluateRules(rules, { fields: row.fields, model: row.modelRequested ?? undefined, endpoint: row.endpoint }, start);
    if (decision.action === 'block') {
      s.refused += 1;
      continue;
    }
    // A call that named no model goes where the matched rule routes it; with no route the engine
    // answers 400 model_required before any limit.
    if (modelRequired(row.endpoint, decision.model, decision.rule)) {
      s.refused += 1;
      s.modelRequired += 1;
      continue;
    }
    let model = decision.model ?? row.modelUsed ?? row.modelRequested ?? '';
    const costOn = (m: string) =>
      !known ? 0 : m === row.modelUsed ? row.cost : pricer.price(m, { inputTokens: row.inputTokens, outputTokens: row.outputTokens, cachedTokens: row.cachedTokens }).cost;
    const on: OnLimitExceeded = decision.rule?.then.on_limit_exceeded ?? rules.defaults?.on_limit_exceeded ?? (decision.action === 'queue' ? { action: 'queue' } : { action: 'block' });
    const tokens = known ? row.inputTokens + row.outputTokens : 0;
    const full = (l: ResolvedLimit, cost: number): boolean => {
      const key = `${l.key}|${l.bucket}`;
      if (l.limit.type === 'concurrent') return (inFlight.get(l.key) ?? []).filter((end) => end > start).length + 1 > l.limit.max;
      const amount = l.limit.type === 'requests' ? 1 : l.limit.type === 'tokens' ? tokens : costUnits(cost);
      return (used.get(key) ?? 0) + amount > (l.limit.type === 'cost' ? capUnits(l.limit.max) : l.limit.max);
    };
    let cost = costOn(model);
    const hit = decision.limits.find((l) => full(l, cost));
    let outcome: 'allowed' | 'downgraded' | 'queued' | 'refused' = 'allowed';
    if (hit) {
      if (on.action === 'downgrade' && on.downgrade_to) {
        model = on.downgrade_to;
        cost = costOn(model);
        outcome = 'downgraded';
      } else if (on.action === 'warn') outcome = 'allowed';
      else if (on.action === 'queue' && hit.limit.type === 'concurrent') outcome = 'queued';
      else outcome = 'refused';
    }
    if (outcome === 'refused') {
      s.refused += 1;
      continue;
    }
    s.allowed += 1;
    if (outcome === 'downgraded') s.downgraded += 1;
    if (outcome === 'queued') s.queued += 1;
    if (!known) s.unknownUsage += 1;
    s.after += BigInt(costUnits(cost));
    for (const l of decision.limits) {
      if (l.limit.type === 'concurrent') {
        const list = inFlight.get(l.key) ?? [];
        list.push(end);
        inFlight.set(l.key, list.filter((end) => end > start));
        continue;
      }
      const key = `${l.key}|${l.bucket}`;
      used.set(key, (used.get(key) ?? 0) + (l.limit.type === 'requests' ? 1 : l.limit.type === 'tokens' ? tokens : costUnits(cost)));
    }
  }

  const span = Math.max(0, to - from);
  const revenueOf = (plan: string): bigint | null => {
    const p = rules.plans?.[plan];
    if (!p) return null;
    return (BigInt(costUnits(p.price)) * BigInt(span)) / BigInt(PERIOD_MS[p.period]);
  };
  const users = [...byUser.entries()].map(([user, s]) => {
    const plan = planOf.get(user)!;
    s.revenue = revenueOf(plan);
    return { user, plan, s };
  });
  users.sort((a, b) => a.plan.localeCompare(b.plan) || a.user.localeCompare(b.user));
  const plans = new Map<string, { s: Sums; users: number }>();
  const total = empty();
  for (const u of users) {
    let p = plans.get(u.plan);
    if (!p) plans.set(u.plan, (p = { s: empty(), users: 0 }));
    add(p.s, u.s);
    p.users += 1;
    add(total, u.s);
  }
  return {
    from,
    to,
    users: users.map((u) => ({ user: u.user, plan: u.plan, ...line(u.s) })),
    plans: [...plans.entries()].map(([plan, p]) => ({ plan, users: p.users, ...line(p.s) })),
    total: { users: users.length, ...line(total) },
  };
}
