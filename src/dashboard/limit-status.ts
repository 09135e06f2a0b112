import { resolveLimit, thresholds } from '../policy/limits.js';
import { matchContext } from '../policy/evaluate.js';
import { windowBounds } from '../policy/windows.js';
import type { LimitActionName, Rule, RulesDocument } from '../policy/types.js';
import type { LedgerRow, TokenlayStore } from '../store/types.js';
import { isBlocked } from '../store/usage-breakdown.js';

/**
 * What a counter means for the calls it counts. A full counter (or the one that refused calls)
 * takes what its rule's `on_limit_exceeded.action` does: `blocked`, `downgraded`, `queued` or
 * `warned`; one at or above the near-limit threshold is `near`.
 */
export type LimitState = 'blocked' | 'downgraded' | 'queued' | 'warned' | 'near';

/** One counter at or above the near-limit threshold, or full. */
export interface LimitStatus {
  ruleId: string;
  /** Who is counted: `user=alice`, `org=acme,user=bob`. */
  scope: string;
  type: 'requests' | 'tokens' | 'cost';
  window: string;
  /** Settled usage in the current window (USD for cost). */
  used: number;
  max: number;
  /** used / max, 0..1 and beyond. */
  fraction: number;
  /**
   * `near` below the cap; at or over it, what the rule does to further calls. A counter is marked
   * only for its own limit: a rule's other counters stay `near` (or unlisted) when this one refused.
   */
  state: LimitState;
  /** The model further calls are answered from, when `state` is `downgraded`. */
  downgradeTo?: string;
  /** ms since epoch, or null for `total`. */
  resetsAt: number | null;
}

/** Fraction of a cap from which a counter is listed. */
export const NEAR_LIMIT = 0.8;

const STATE_OF: Record<LimitActionName, LimitState> = { block: 'blocked', downgrade: 'downgraded', queue: 'queued', warn: 'warned' };

/** What the rule does once one of its limits is full (the engine's own default: block, or queue for a queue rule). */
function fullState(rule: Rule): { state: LimitState; downgradeTo?: string } {
  const on = rule.then.on_limit_exceeded;
  if (!on) return { state: rule.then.action === 'queue' ? 'queued' : 'blocked' };
  return on.action === 'downgrade' && on.downgrade_to ? { state: 'downgraded', downgradeTo: on.downgrade_to } : { state: STATE_OF[on.action] };
}

/**
 * Counters that are near or over their cap right now. The counters to read are found from the
 * ledger: every distinct `per` value that a rule's calls had in the limit's current window.
 * Usage comes from the counter store (what admission sees), not from summing the ledger.
 * `fields` restrict the rows read (an account, the page's filter); `model`, when given, keeps
 * only the counters of calls asked of or answered by that model.
 */
export async function limitStatus(
  store: TokenlayStore,
  doc: RulesDocument | undefined,
  fields: Record<string, string>,
  now: number,
  model?: (row: LedgerRow) => boolean,
): Promise<LimitStatus[]> {
  const limited = (doc?.rules ?? []).filter((r) => (r.then.limits ?? []).some((l) => l.type !== 'concurrent'));
  if (limited.length === 0) return [];
  let since = now;
  for (const rule of limited) for (const l of rule.then.limits!) if (l.type !== 'concurrent') since = Math.min(since, windowBounds(l.window, now).start);
  let rows = await store.ledger({ since, until: now + 1, fields });
  if (model) rows = rows.filter(model);
  const byRule = new Map<string, LedgerRow[]>();
  for (const row of rows) if (row.ruleId !== null) (byRule.get(row.ruleId) ?? byRule.set(row.ruleId, []).get(row.ruleId)!).push(row);
  const out: LimitStatus[] = [];
  for (const rule of limited) {
    const ruleRows = byRule.get(rule.id) ?? [];
    // A refusal names its rule, not its limit: it is put on a counter that is not full only when
    // the rule has no other limit that could have refused it.
    const onlyLimit = rule.then.limits!.length === 1;
    const full = fullState(rule);
    for (const [index, limit] of rule.then.limits!.entries()) {
      // Balances of credits are listed with the overrides, not as windows.
      if (limit.type === 'concurrent' || limit.type === 'credits') continue;
      const seen = new Map<string, { key: string; scope: string; bucket: number; resetsAt: number | null; refused: boolean }>();
      for (const row of ruleRows) {
        const context = matchContext({ fields: row.fields, model: row.modelRequested ?? undefined, endpoint: row.endpoint });
        const r = resolveLimit(rule, limit, index, context, now);
        if (row.time < r.bucket) continue;
        const entry = seen.get(r.key) ?? { key: r.key, scope: r.scope, bucket: r.bucket, resetsAt: r.resetsAt, refused: false };
        if (isBlocked(row)) entry.refused = true;
        seen.set(r.key, entry);
      }
      for (const c of seen.values()) {
        const { used } = await store.read(c.key, limit.type, c.bucket, now);
        const fraction = used / limit.max;
        const reached = used >= limit.max || (c.refused && onlyLimit);
        if (!reached && fraction < Math.min(NEAR_LIMIT, thresholds(limit)[0] ?? NEAR_LIMIT)) continue;
        out.push({
          ruleId: rule.id,
          scope: c.scope,
          type: limit.type,
          window: limit.window,
          used,
          max: limit.max,
          fraction,
          ...(reached ? full : { state: 'near' as const }),
          resetsAt: c.resetsAt,
        });
      }
    }
  }
  const rank = (s: LimitStatus) => (s.state === 'blocked' ? 2 : s.state === 'near' ? 0 : 1);
  return out.sort((a, b) => rank(b) - rank(a) || b.fraction - a.fraction);
}
