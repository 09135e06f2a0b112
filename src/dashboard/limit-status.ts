import { resolveLimit } from '../policy/limits.js';
import { matchContext } from '../policy/evaluate.js';
import { windowBounds } from '../policy/windows.js';
import type { RulesDocument } from '../policy/types.js';
import type { LedgerRow, TokenlayStore } from '../store/types.js';
import { isBlocked } from '../store/usage-breakdown.js';

/** One counter at or above the near-limit threshold, or blocking. */
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
  /** `blocked`: calls were refused this window, or the counter is full; `near`: at or above the threshold. */
  state: 'blocked' | 'near';
  /** ms since epoch, or null for `total`. */
  resetsAt: number | null;
}

/** Fraction of a cap from which a counter is listed. */
export const NEAR_LIMIT = 0.8;

/**
 * Counters that are near or over their cap right now. The counters to read are found from the
 * ledger: every distinct `per` value that a rule's calls had in the limit's current window.
 * Usage comes from the counter store (what admission sees), not from summing the ledger.
 */
export async function limitStatus(store: TokenlayStore, doc: RulesDocument | undefined, scope: Record<string, string>, now: number): Promise<LimitStatus[]> {
  const limited = (doc?.rules ?? []).filter((r) => (r.then.limits ?? []).some((l) => l.type !== 'concurrent'));
  if (limited.length === 0) return [];
  let since = now;
  for (const rule of limited) for (const l of rule.then.limits!) if (l.type !== 'concurrent') since = Math.min(since, windowBounds(l.window, now).start);
  const rows = await store.ledger({ since, until: now + 1, fields: scope });
  const byRule = new Map<string, LedgerRow[]>();
  for (const row of rows) if (row.ruleId !== null) (byRule.get(row.ruleId) ?? byRule.set(row.ruleId, []).get(row.ruleId)!).push(row);
  const out: LimitStatus[] = [];
  for (const rule of limited) {
    const ruleRows = byRule.get(rule.id) ?? [];
    for (const [index, limit] of rule.then.limits!.entries()) {
      if (limit.type === 'concurrent') continue;
      const seen = new Map<string, { key: string; scope: string; bucket: number; resetsAt: number | null; blocked: boolean }>();
      for (const row of ruleRows) {
        const context = matchContext({ fields: row.fields, model: row.modelRequested ?? undefined, endpoint: row.endpoint });
        const r = resolveLimit(rule, limit, index, context, now);
        if (row.time < r.bucket) continue;
        const entry = seen.get(r.key) ?? { key: r.key, scope: r.scope, bucket: r.bucket, resetsAt: r.resetsAt, blocked: false };
        if (isBlocked(row) && row.action === 'block') entry.blocked = true;
        seen.set(r.key, entry);
      }
      for (const c of seen.values()) {
        const { used } = await store.read(c.key, limit.type, c.bucket, now);
        const fraction = used / limit.max;
        if (!c.blocked && fraction < Math.min(NEAR_LIMIT, limit.warn_at ?? NEAR_LIMIT)) continue;
        out.push({
          ruleId: rule.id,
          scope: c.scope,
          type: limit.type,
          window: limit.window,
          used,
          max: limit.max,
          fraction,
          state: c.blocked || used >= limit.max ? 'blocked' : 'near',
          resetsAt: c.resetsAt,
        });
      }
    }
  }
  return out.sort((a, b) => Number(b.state === 'blocked') - Number(a.state === 'blocked') || b.fraction - a.fraction);
}
