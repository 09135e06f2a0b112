import type { ResolvedLimit } from '../policy/limits.js';
import type { OnLimitExceeded, Rule, RuleActionName } from '../policy/types.js';
import type { CounterCheck, CounterStore, LedgerRow } from '../store/types.js';
import { DEFAULT_QUEUE_DELAY_SECONDS } from '../policy/schema.js';
import { describeLimit } from './describe.js';
import type { Refusal } from './refusal.js';

/** What a call may spend, reserved at admission. */
export interface Estimate {
  tokens: number;
  cost: number;
  /** Of `tokens`, those of the input, when known (the ledger row of a lost call splits by it). */
  inputTokens?: number;
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
  /** Counters that are only counted, never checked (usage read-outs), for a time. */
  trackingAt: (now: number) => CounterCheck[];
  estimate: Estimate;
  /** Re-estimates for a downgraded model. */
  estimateFor: (model: string) => Estimate;
  now: () => number;
  leaseMs: number;
  signal?: AbortSignal | undefined;
  /** The ledger row a store records if the call's holder is lost, for what is reserved. */
  lostRow?: (estimate: Estimate) => LedgerRow;
}

function amountOf(type: ResolvedLimit['limit']['type'], estimate: Estimate): number {
  if (type === 'tokens') return estimate.tokens;
  if (type === 'cost') return estimate.cost;
  return 1;
}

/** Counter checks for limits; `counted only` ones get an infinite max so that they never refuse. */
export function limitChecks(limits: ResolvedLimit[], estimate: Estimate, countedOnly = false): CounterCheck[] {
  return limits.map((l) => ({
    key: l.key,
    metric: l.limit.type,
    bucket: l.bucket,
    expiresAt: l.resetsAt,
    max: countedOnly ? Infinity : l.limit.max,
    amount: amountOf(l.limit.type, estimate),
  }));
}

function onExceeded(rule: Rule, action: RuleActionName): OnLimitExceeded {
  if (rule.then.on_limit_exceeded) return rule.then.on_limit_exceeded;
  // A rule whose action is queue queues what its limits refuse; any other blocks.
  return action === 'queue' ? { action: 'queue', delay_seconds: DEFAULT_QUEUE_DELAY_SECONDS } : { action: 'block' };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

async function warnings(req: AdmissionRequest, limits: ResolvedLimit[], now: number): Promise<string[]> {
  const out: string[] = [];
  for (const l of limits) {
    if (l.limit.warn_at === undefined) continue;
    const { used, reserved } = await req.store.read(l.key, l.limit.type, l.bucket, now);
    // Counted limits reserve exactly what a call uses, so in-flight calls (this one included)
    // count. Token and cost reservations are worst-case estimates: warning on them would cry wolf
    // on the first call, so those warn on what has been spent.
    const exact = l.limit.type === 'requests' || l.limit.type === 'concurrent';
    const current = exact ? used + reserved : used;
    if (current >= l.limit.warn_at * l.limit.max) {
      const pct = Math.floor((current / l.limit.max) * 100);
      const resets = l.resetsAt === null ? '' : `; resets at ${new Date(l.resetsAt).toISOString()}`;
      out.push(`rule "${req.rule!.id}": ${pct}% of the limit reached: ${describeLimit(l, current)}${resets}`);
    }
  }
  return out;
}

/**
 * Admits a call against its rule's limits. It reserves atomically one request, one concurrent
 * slot and the estimated tokens and cost on every counter; a counter already at its max
 * (settled plus live reservations) refuses, and `on_limit_exceeded` decides:
 *
 * - `block` (the default): a refusal, answered as docs/protocol.md §3 says.
 * - `queue`: retries with backoff for up to `delay_seconds` (real time), then blocks, reported as `queue`.
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
  const lost = req.lostRow?.(req.estimate);
  const lease = () => ({ now: req.now(), leaseMs: req.leaseMs, lost });
  const checks = [...limitChecks(limits, req.estimate), ...req.trackingAt(now)];
  // Nothing to count: no reservation, and no store round trip.
  if (checks.length === 0) return { ok: true, reservationId: null, ruleAction: req.ruleAction === 'warn' ? 'warn' : 'allow', limitExceeded: false, warnings: [] };
  let result = await req.store.reserve(checks, { now, leaseMs: req.leaseMs, lost });
  if (result.ok) {
    return { ok: true, reservationId: result.id, ruleAction: req.ruleAction === 'warn' ? 'warn' : 'allow', limitExceeded: false, warnings: await warnings(req, limits, now) };
  }
  const rule = req.rule!;
  const on = onExceeded(rule, req.ruleAction);
  let hit = limits[result.index]!;
  let current = result.current;

  if (on.action === 'warn' || on.action === 'downgrade') {
    const estimate = on.action === 'downgrade' ? req.estimateFor(on.downgrade_to!) : req.estimate;
    const forced = await req.store.reserve([...limitChecks(limits, estimate, true), ...req.trackingAt(now)], { ...lease(), lost: req.lostRow?.(estimate) });
    if (!forced.ok) throw new Error('tokenlay: a counted-only reservation was refused; the store does not honour max: Infinity');
    const over = `rule "${rule.id}": limit exceeded: ${describeLimit(hit, current)}`;
    return on.action === 'warn'
      ? { ok: true, reservationId: forced.id, ruleAction: 'warn', limitExceeded: true, warnings: [over] }
      : { ok: true, reservationId: forced.id, ruleAction: 'allow', limitExceeded: true, downgradeTo: on.downgrade_to!, warnings: [`${over}; downgraded to ${on.downgrade_to}`] };
  }

  if (on.action === 'queue') {
    const started = Date.now();
    const deadline = started + (on.delay_seconds ?? DEFAULT_QUEUE_DELAY_SECONDS) * 1000;
    let wait = 20;
    while (Date.now() < deadline) {
      await sleep(Math.min(wait, Math.max(1, deadline - Date.now())), req.signal);
      wait = Math.min(wait * 1.5, 500);
      now = req.now();
      limits = req.limitsAt(now);
      result = await req.store.reserve([...limitChecks(limits, req.estimate), ...req.trackingAt(now)], { now, leaseMs: req.leaseMs, lost });
      if (result.ok) {
        const waited = Date.now() - started;
        return {
          ok: true,
          reservationId: result.id,
          ruleAction: 'queue',
          limitExceeded: false,
          warnings: [`rule "${rule.id}": queued ${waited} ms for ${describeLimit(hit, current)}`, ...(await warnings(req, limits, now))],
        };
      }
      hit = limits[result.index]!;
      current = result.current;
    }
    return { ok: false, refusal: { kind: 'limit', rule, limit: hit, current, now: req.now(), ruleAction: 'queue' } };
  }

  return { ok: false, refusal: { kind: 'limit', rule, limit: hit, current, now, ruleAction: 'block' } };
}
