import { thresholds, type ResolvedLimit } from '../policy/limits.js';
import type { OnLimitExceeded, Rule, RuleActionName } from '../policy/types.js';
import type { CounterCheck, CounterStore, LedgerRow } from '../store/types.js';
import { DEFAULT_QUEUE_DELAY_SECONDS } from '../policy/schema.js';
import { COST_UNITS_PER_USD } from '../store/money.js';
import { realSleep, Waited } from './clock.js';
import { describeLimit } from './describe.js';
import type { Refusal } from './refusal.js';
import { nextRelease, readPrior } from './rolling.js';
import { RUN_RULE } from './run-limits.js';

/** What a call may spend, reserved at admission: an upper bound of its tokens and USD. */
export interface Estimate {
  tokens: number;
  /** USD. */
  cost: number;
  /** Of `tokens`, those of the input, when known (the ledger row of a lost call splits by it). */
  inputTokens?: number;
  /**
   * A smaller reservation that fits `room` (tokens and USD, at most), made by lowering the call's
   * output limit, or undefined when not even a short answer fits. Absent: the call cannot be clamped.
   */
  within?: (room: { tokens?: number; cost?: number }) => Estimate | undefined;
  /** Per model, the output limit (tokens, one choice) the call must be sent with to stay within this reservation. */
  outputLimits?: Map<string, number>;
}

/** A call admitted with a lower output limit than it asked for, and the limit that made room for it. */
export interface Clamp {
  limit: ResolvedLimit;
  /** What was left of the limit (tokens, or USD) when the call was admitted. */
  room: number;
}

/** A call let through: its reservation, and what the report must say about how. */
export interface Admitted {
  ok: true;
  /** Null when the call counts against nothing. */
  reservationId: string | null;
  ruleAction: 'allow' | 'warn' | 'queue';
  limitExceeded: boolean;
  /** The model a downgrade moved the call to. */
  downgradeTo?: string;
  warnings: string[];
  /** What was reserved: the request's estimate, or a clamped one (see `clamp`). */
  estimate: Estimate;
  /** Set when a cost or token limit had less room than the call's worst case and its output limit was lowered. */
  clamp?: Clamp;
}

/** A call refused by a full limit: the answer stage renders it. */
export interface Refused {
  ok: false;
  refusal: Extract<Refusal, { kind: 'limit' }>;
}

export interface AdmissionRequest {
  store: CounterStore;
  /** The matched rule (null: no limits, only usage tracking). */
  rule: Rule | null;
  ruleAction: RuleActionName;
  /** Resolves the rule's limits for a time (re-run when a queued call retries in a new window). */
  limitsAt: (now: number) => ResolvedLimit[];
  /** Counters that are only counted, never checked (usage read-outs), for a time and a reservation. */
  trackingAt: (now: number, estimate: Estimate) => CounterCheck[];
  estimate: Estimate;
  /** Re-estimates for a downgraded model. */
  estimateFor: (model: string) => Estimate;
  now: () => number;
  /** Waits on the engine's clock: a queued call's backoff. Default real timers. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  leaseMs: number;
  signal?: AbortSignal | undefined;
  /** The ledger row a store records if the call's holder is lost, for what is reserved. */
  lostRow?: (estimate: Estimate) => LedgerRow;
}

function amountOf(type: ResolvedLimit['limit']['type'], estimate: Estimate): number {
  if (type === 'tokens') return estimate.tokens;
  if (type === 'cost' || type === 'credits') return estimate.cost;
  return 1;
}

/**
 * The max a store checks for a limit. A store admits while `current < max`; a call must fit whole,
 * `current + amount <= max`, so the call's own amount is taken off (tokens are whole: `+ 1` makes
 * it exact; requests and concurrent calls reserve 1, the same as the store's own test).
 */
function storeMax(type: ResolvedLimit['limit']['type'], max: number, amount: number): number {
  if (type === 'tokens') return max - amount + 1;
  // Stores count cost in whole units of 1e-10 USD, rounding the max and the amount each: one unit
  // short keeps that rounding from letting a call through by a unit.
  if (type === 'cost' || type === 'credits') return max - amount - 1 / COST_UNITS_PER_USD;
  return max;
}

/** Counter checks for limits; `counted only` ones get an infinite max so that they never refuse. */
export function limitChecks(limits: ResolvedLimit[], estimate: Estimate, countedOnly = false): CounterCheck[] {
  return limits.map((l) => {
    const amount = amountOf(l.limit.type, estimate);
    return {
      key: l.key,
      // A balance of credits is a cost counter that never resets, its max the USD granted.
      metric: l.limit.type === 'credits' ? 'cost' : l.limit.type,
      bucket: l.bucket,
      expiresAt: l.resetsAt,
      // A rolling window's earlier steps take their share of the max first.
      // A run's cap is checked even when the rule's limits are only counted: a warning or a
      // downgrade is the rule's answer to its own limit, never a way past a run's budget.
      max: countedOnly && !l.run ? Infinity : storeMax(l.limit.type, l.limit.max - (l.prior ?? 0), amount),
      amount,
    };
  });
}

// A cost room is left two units of money short: a reservation of exactly the room would be
// refused by the store's check, one unit short (see storeMax).
const COST_ROOM_MARGIN_USD = 2 / COST_UNITS_PER_USD;
// Clamps tried before a refusal stands: each one follows a reservation that others took first.
const CLAMP_TRIES = 8;

/**
 * Reserves the call, lowering its output limit when a cost or token limit has less room than the
 * call's worst case (what the room allows, never below a short answer). A refusal it cannot clamp
 * away is returned as the store gave it.
 */
async function reserveClamped(
  req: AdmissionRequest,
  limits: ResolvedLimit[],
  now: number,
): Promise<{ result: Awaited<ReturnType<CounterStore['reserve']>>; estimate: Estimate; clamp?: Clamp }> {
  let estimate = req.estimate;
  let clamp: Clamp | undefined;
  const room: { tokens?: number; cost?: number } = {};
  for (let tries = 0; ; tries++) {
    const result = await req.store.reserve([...limitChecks(limits, estimate), ...req.trackingAt(now, estimate)], { now, leaseMs: req.leaseMs, lost: req.lostRow?.(estimate) });
    if (result.ok || tries >= CLAMP_TRIES || !estimate.within) return { result, estimate, clamp };
    const hit = limits[result.index];
    const type = hit?.limit.type === 'credits' ? 'cost' : hit?.limit.type;
    if (type !== 'tokens' && type !== 'cost') return { result, estimate, clamp };
    const left = Math.max(0, hit!.limit.max - (hit!.prior ?? 0) - result.current);
    room[type] = Math.min(room[type] ?? Infinity, type === 'cost' ? left - COST_ROOM_MARGIN_USD : left);
    const smaller = estimate.within(room);
    if (!smaller) return { result, estimate, clamp };
    estimate = smaller;
    clamp = { limit: hit!, room: left };
  }
}

/** The refused limit with `resetsAt` when room next frees: for a rolling window, when its oldest usage leaves it. */
async function released(store: CounterStore, l: ResolvedLimit, now: number): Promise<ResolvedLimit> {
  return l.earlier ? { ...l, resetsAt: await nextRelease(store, l, now) } : l;
}

function onExceeded(rule: Rule, action: RuleActionName): OnLimitExceeded {
  if (rule.then.on_limit_exceeded) return rule.then.on_limit_exceeded;
  // A rule whose action is queue queues what its limits refuse; any other blocks.
  return action === 'queue' ? { action: 'queue', delay_seconds: DEFAULT_QUEUE_DELAY_SECONDS } : { action: 'block' };
}

async function warnings(req: AdmissionRequest, limits: ResolvedLimit[], now: number): Promise<string[]> {
  const out: string[] = [];
  for (const l of limits) {
    const levels = thresholds(l.limit);
    if (levels.length === 0) continue;
    const read = await req.store.read(l.key, l.limit.type === 'credits' ? 'cost' : l.limit.type, l.bucket, now);
    const used = read.used + (l.prior ?? 0);
    const reserved = read.reserved;
    // Counted limits reserve exactly what a call uses, so in-flight calls (this one included)
    // count. Token and cost reservations are worst-case estimates: warning on them would cry wolf
    // on the first call, so those warn on what has been spent.
    const exact = l.limit.type === 'requests' || l.limit.type === 'concurrent';
    const current = exact ? used + reserved : used;
    // The highest threshold reached speaks; each lower one has had its say on earlier calls.
    const reached = levels.filter((f) => current >= f * l.limit.max);
    if (reached.length > 0) {
      const pct = Math.floor((current / l.limit.max) * 100);
      const resets = l.resetsAt === null ? '' : `; resets at ${new Date(l.resetsAt).toISOString()}`;
      out.push(`rule "${req.rule!.id}": ${pct}% of the limit reached: ${describeLimit(l, current)}${resets}`);
    }
  }
  return out;
}

/**
 * Admits a call against its rule's limits. It reserves atomically one request, one concurrent
 * slot and the call's bound of tokens and cost on every counter, and only what fits:
 * `used + reserved + amount <= max`. When a cost or token limit has less room than the call's
 * worst case, the call is reserved with a lower output limit that fits (its `estimate.within`),
 * and `clamp` says which limit made it. A counter that cannot hold even a short answer refuses,
 * and `on_limit_exceeded` decides:
 *
 * - `block` (the default): a refusal, answered as docs/protocol.md §3 says.
 * - `queue`: retries with backoff for up to `delay_seconds` on the engine's clock (`now`, `sleep`), then blocks, reported as `queue`.
 * - `warn`: admits, counted on the counters but not checked, with a warning.
 * - `downgrade`: admits on `downgrade_to`, counted but not checked against the rule's limits
 *   (the downgrade is the rule's answer to being over them), with a warning.
 *
 * An admitted call gets a warning for each limit with `warn_at` that has reached that fraction of
 * its max: requests and concurrency counting this call, tokens and cost counting settled spend.
 */
export async function admit(req: AdmissionRequest): Promise<Admitted | Refused> {
  let now = req.now();
  let limits = req.limitsAt(now);
  await readPrior(req.store, limits, now);
  const lease = () => ({ now: req.now(), leaseMs: req.leaseMs });
  const action = req.ruleAction === 'warn' ? 'warn' : 'allow';
  // Nothing to count: no reservation, and no store round trip.
  if (limits.length === 0 && req.trackingAt(now, req.estimate).length === 0) {
    return { ok: true, reservationId: null, ruleAction: action, limitExceeded: false, warnings: [], estimate: req.estimate };
  }
  let { result, estimate, clamp } = await reserveClamped(req, limits, now);
  if (result.ok) {
    return { ok: true, reservationId: result.id, ruleAction: action, limitExceeded: false, warnings: await warnings(req, limits, now), estimate, ...(clamp ? { clamp } : {}) };
  }
  let hit = limits[result.index]!;
  let current = result.current + (hit.prior ?? 0);
  if (hit.run) return { ok: false, refusal: { kind: 'limit', rule: RUN_RULE, limit: hit, current, now, ruleAction: 'block' } };
  const rule = req.rule!;
  const on = onExceeded(rule, req.ruleAction);

  if (on.action === 'warn' || on.action === 'downgrade') {
    const counted = on.action === 'downgrade' ? req.estimateFor(on.downgrade_to!) : req.estimate;
    // A call let past an empty balance is not paid from it: a balance never goes below zero.
    const counting = limits.filter((l) => l.limit.type !== 'credits');
    const forced = await req.store.reserve([...limitChecks(counting, counted, true), ...req.trackingAt(now, counted)], { ...lease(), lost: req.lostRow?.(counted) });
    if (!forced.ok) {
      const run = counting[forced.index];
      if (run?.run) return { ok: false, refusal: { kind: 'limit', rule: RUN_RULE, limit: run, current: forced.current, now, ruleAction: 'block' } };
      throw new Error('tokenlay: a counted-only reservation was refused; the store does not honour max: Infinity');
    }
    const over = `rule "${rule.id}": limit exceeded: ${describeLimit(hit, current)}`;
    return on.action === 'warn'
      ? { ok: true, reservationId: forced.id, ruleAction: 'warn', limitExceeded: true, warnings: [over], estimate: counted }
      : { ok: true, reservationId: forced.id, ruleAction: 'allow', limitExceeded: true, downgradeTo: on.downgrade_to!, warnings: [`${over}; downgraded to ${on.downgrade_to}`], estimate: counted };
  }

  if (on.action === 'queue') {
    const queued = new Waited(req.now, (on.delay_seconds ?? DEFAULT_QUEUE_DELAY_SECONDS) * 1000);
    let wait = 20;
    while (queued.left > 0) {
      await queued.step(req.sleep ?? realSleep, wait, req.signal);
      wait = Math.min(wait * 1.5, 500);
      now = req.now();
      limits = req.limitsAt(now);
      await readPrior(req.store, limits, now);
      ({ result, estimate, clamp } = await reserveClamped(req, limits, now));
      if (result.ok) {
        const waited = Math.round(queued.waited);
        return {
          ok: true,
          reservationId: result.id,
          ruleAction: 'queue',
          limitExceeded: false,
          warnings: [`rule "${rule.id}": queued ${waited} ms for ${describeLimit(hit, current)}`, ...(await warnings(req, limits, now))],
          estimate,
          ...(clamp ? { clamp } : {}),
        };
      }
      hit = limits[result.index]!;
      current = result.current + (hit.prior ?? 0);
    }
    return { ok: false, refusal: { kind: 'limit', rule, limit: await released(req.store, hit, now), current, now: req.now(), ruleAction: 'queue' } };
  }

  return { ok: false, refusal: { kind: 'limit', rule, limit: await released(req.store, hit, now), current, now, ruleAction: 'block' } };
}
