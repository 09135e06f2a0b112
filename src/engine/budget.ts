/**
 * The budget read-out: what each limit that applies to a user has left, for `getTokenlayBudget()`,
 * the gateway's `GET /v1/budget`, and the `x-tokenlay-budget-remaining` header of each answer.
 */
import { evaluateRules, matchContext } from '../policy/evaluate.js';
import { counterMetric, type ResolvedLimit } from '../policy/limits.js';
import type { OverrideView } from '../policy/overrides.js';
import type { RulesDocument } from '../policy/types.js';
import type { RunBudget } from '../protocol/run-budget.js';
import type { CounterReading, CounterStore } from '../store/types.js';
import { nextRelease, readPrior } from './rolling.js';
import { withCallOverrides } from './overrides.js';
import { runLimits } from './run-limits.js';

/** One limit that applies to the user, as it stands. */
export interface BudgetLimit {
  /** The rule the limit belongs to; null for a run's budget. */
  ruleId: string | null;
  /** What it counts: `requests`, `tokens`, `cost` (USD), `concurrent`, `credits` (USD; `max` is the balance granted), or `run` (a run's budget; its unit in `metric`). */
  type: string;
  /** For a `run` limit: `cost`, `tokens` or `requests`. */
  metric?: string;
  /** `minute` … `year`, `total`, `last_24h`-style rolling windows, or `run`. */
  window: string;
  /** USD for cost, else tokens, calls or calls in flight. */
  max: number;
  /** Spent in the window (settled calls; for requests and concurrent, calls in flight too). */
  used: number;
  /** What a next call may still use: max less what is spent and what calls in flight hold, at least 0. */
  remaining: number;
  /**
   * ISO 8601 time at which room next comes back: the window's reset; for a rolling window, when the
   * oldest usage it counts leaves it (null when it counts none); null for `total` and runs.
   */
  resetsAt: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().replace('.000Z', 'Z'));

function round(type: string, v: number): number {
  return type === 'cost' ? Math.round(v * 1e10) / 1e10 : v;
}

/** The window a read-out names: `run` for a run's budget, `total` for calls in flight. */
const windowOf = (l: ResolvedLimit) => (l.run ? 'run' : l.limit.type === 'concurrent' ? 'total' : l.limit.window);

/** One limit as it stands, from its counter's `used` and `reserved` (and `prior`, a rolling window's earlier steps). */
function budgetLimit(l: ResolvedLimit, used: number, reserved: number, resetsAt: number | null, ruleId: string | null): BudgetLimit {
  const type = l.limit.type;
  const exact = type === 'requests' || type === 'concurrent';
  const spent = used + (l.prior ?? 0) + (exact ? reserved : 0);
  const held = used + (l.prior ?? 0) + reserved;
  const window = windowOf(l);
  return {
    ruleId: l.run ? null : ruleId,
    type: l.run ? 'run' : type,
    ...(l.run ? { metric: type } : {}),
    window,
    max: l.limit.max,
    used: round(type, spent),
    remaining: round(type, Math.max(0, l.limit.max - held)),
    resetsAt: iso(l.run ? null : resetsAt),
  };
}

/** Reads each limit's counters; see {@link BudgetLimit}. */
export async function readBudget(store: Pick<CounterStore, 'read'>, limits: ResolvedLimit[], ruleId: string | null, now: number): Promise<BudgetLimit[]> {
  await readPrior(store, limits, now);
  return Promise.all(
    limits.map(async (l) => {
      const { used, reserved } = await store.read(l.key, counterMetric(l.limit.type), l.bucket, now);
      const held = used + (l.prior ?? 0) + reserved;
      const resetsAt = !l.run && l.earlier ? (held > 0 ? await nextRelease(store, l, now) : null) : l.resetsAt;
      return budgetLimit(l, used, reserved, resetsAt, ruleId);
    }),
  );
}

/** What the report's `budget` says of one limit: see {@link tightest}. */
export interface TightestLimit {
  remaining: number;
  type: string;
  window: string;
}

/**
 * The report's `budget` from counters already read (a settlement's), without a store round trip
 * and without building each limit's read-out (every call answers with one): the same limit and
 * figures as `tightest()` of the read-out. `null` when no limit applies; undefined unless every
 * limit's counter is among `readings` and none has a rolling window (whose earlier steps and next
 * release need reads of their own).
 */
export function tightestFromReadings(readings: readonly CounterReading[], limits: readonly ResolvedLimit[]): TightestLimit | null | undefined {
  let best: ResolvedLimit | undefined;
  let bestRemaining = 0;
  for (const l of limits) {
    if (l.earlier !== undefined) return undefined;
    const metric = counterMetric(l.limit.type);
    let r: CounterReading | undefined;
    for (const c of readings) {
      if (c.key === l.key && c.metric === metric && c.bucket === l.bucket) {
        r = c;
        break;
      }
    }
    if (!r) return undefined;
    const remaining = round(l.limit.type, Math.max(0, l.limit.max - (r.used + (l.prior ?? 0) + r.reserved)));
    if (!best || remaining / l.limit.max < bestRemaining / best.limit.max) {
      best = l;
      bestRemaining = remaining;
    }
  }
  return best ? { remaining: bestRemaining, type: best.limit.type, window: windowOf(best) } : null;
}

/** The limit with the smallest share of its max left, as the report's `budget`; undefined when none. */
export function tightest(budget: BudgetLimit[]): TightestLimit | undefined {
  let best: BudgetLimit | undefined;
  for (const b of budget) if (!best || b.remaining / b.max < best.remaining / best.max) best = b;
  if (!best) return undefined;
  return { remaining: best.remaining, type: best.type === 'run' ? best.metric! : best.type, window: best.window };
}

/**
 * The limits that apply to a user with these fields: those of the rule a call with these fields
 * (and no model) matches, and the caps of the given runs. A rule that conditions on the model or
 * the endpoint applies to calls, not to a user, and is not listed.
 */
export async function userBudget(
  doc: RulesDocument | undefined,
  store: CounterStore,
  fields: Record<string, string>,
  runs: readonly RunBudget[],
  now: number,
  overrides?: OverrideView,
): Promise<BudgetLimit[]> {
  const matched = doc
    ? evaluateRules(doc, { fields, model: undefined, endpoint: '' }, now)
    : { rule: null, action: 'allow' as const, model: undefined, modelChanged: false, params: undefined, limits: [], fallbacks: [], context: matchContext({ fields, model: undefined, endpoint: '' }) };
  // The limits a call would be held to: with the overrides set at run time and the credits granted.
  const decision = withCallOverrides(matched, overrides, doc, now);
  const limits = decision.rule && decision.action !== 'block' ? [...decision.limits] : [];
  limits.push(...runLimits(runs, fields.account, now));
  return readBudget(store, limits, decision.rule?.id ?? null, now);
}
