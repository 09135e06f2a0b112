import { readPath } from './paths.js';
import { anchoredBounds, parseAnchor, parseRolling, rollingBounds, windowBounds, type WindowBounds } from './windows.js';
import type { MatchContext } from './match.js';
import type { Limit, Rule } from './types.js';

/** The value a call without the `per` field is counted under: all such calls share one counter. */
export const MISSING_VALUE = '(none)';

/** A limit of the matched rule, resolved to the concrete counter this call counts against. */
export interface ResolvedLimit {
  limit: Limit;
  /** Position in the rule's `limits`. */
  index: number;
  /** Counter identity: `<rule id>|<type>|<window>|<per>=<value>[,…]`, values escaped. */
  key: string;
  /** Who is counted, readable: `user=alice`, `org=acme,user=(none)`. */
  scope: string;
  /** Window start (ms; 0 for `total`). */
  bucket: number;
  /** Window end (ms), or null for `total`; for a rolling window, when the current step's usage leaves it. */
  resetsAt: number | null;
  /**
   * A rolling window's earlier steps still inside it (bucket starts, newest first): their usage
   * counts against `max` with the current step's. Absent for a fixed window.
   */
  earlier?: number[];
  /** Set when the limit is the cap of a run (`runWithTokenlay({ budget })`), not a rule's: the run's id. */
  run?: string;
  /** What the earlier steps of a rolling window hold (used and reserved), once the engine has read them. */
  prior?: number;
}

/** A limit's `warn_at` as a list of thresholds, ascending (empty when none is set). */
export function thresholds(limit: Limit): number[] {
  const w = limit.warn_at;
  if (w === undefined) return [];
  return Array.isArray(w) ? w : [w];
}

// What encodeURIComponent and the replace below leave as it is.
const KEY_SAFE = /^[A-Za-z0-9_.~-]*$/;

/** Escapes what would make a counter key ambiguous: `|`, `,`, `=`, and the parentheses of `(none)`. */
export function escapeKeyPart(value: string): string {
  // Most values (ids, plans, emails without `+`) have nothing to escape: no copy for them.
  if (KEY_SAFE.test(value)) return value;
  return encodeURIComponent(value).replace(/[()!'*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function valueOf(context: MatchContext, path: string): string | undefined {
  const v = readPath(context, path);
  if (v === undefined || v === null || v === '') return undefined;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The counter a limit type counts on: a balance of credits is a cost counter that never resets. */
export function counterMetric(type: Limit['type']): Exclude<Limit['type'], 'credits'> {
  return type === 'credits' ? 'cost' : type;
}

/**
 * The counter of a balance of credits: one per account and user (or org), whatever rule draws it,
 * so that every rule with a `credits` limit draws the same balance.
 */
function creditsKey(limit: Limit, context: MatchContext, keyScope: string): string {
  return creditsCounterKey(limit.balance_account ?? valueOf(context, 'account') ?? '', keyScope);
}

/** The counter key of the balance of `scope` (`user=alice`, escaped as in a counter key) in `account` (`''`: none). */
export function creditsCounterKey(account: string, scope: string): string {
  return `credits|${account === '' ? '' : `account=${escapeKeyPart(account)},`}${scope}`;
}

/**
 * Resolves one limit for a call. The counter is keyed by the rule id, the limit's type and
 * window, and the value of each `per` field (the value read from `tracking_key` when given).
 * A call that lacks a `per` field is counted under `(none)`: anonymous calls share one counter
 * rather than escaping the limit. A `concurrent` limit always uses the `total` window: calls in
 * flight do not restart at a window boundary.
 */
export function resolveLimit(rule: Rule, limit: Limit, index: number, context: MatchContext, now: number): ResolvedLimit {
  const pairs = limit.per.map((name) => {
    const value = valueOf(context, limit.tracking_key ?? name);
    return { name, value };
  });
  const scope = pairs.map((p) => `${p.name}=${p.value ?? MISSING_VALUE}`).join(',');
  const keyScope = pairs.map((p) => `${escapeKeyPart(p.name)}=${p.value === undefined ? MISSING_VALUE : escapeKeyPart(p.value)}`).join(',');
  const window = limit.type === 'concurrent' ? 'total' : limit.window;
  const key = limit.type === 'credits' ? creditsKey(limit, context, keyScope) : `${escapeKeyPart(rule.id)}|${limit.type}|${window}|${keyScope}`;
  const rolling = parseRolling(window);
  if (rolling) {
    const r = rollingBounds(rolling, now);
    return { limit, index, key, scope, bucket: r.bucket, resetsAt: r.expiresAt, earlier: r.earlier };
  }
  const bounds = limitWindow(limit, window, context, now);
  return { limit, index, key, scope, bucket: bounds.start, resetsAt: bounds.resetsAt };
}

/**
 * A fixed window, on the limit's billing date when it has one: the date itself, or the date in the
 * field it names. A call whose field is missing or not a date is counted on the calendar window
 * (the 1st), as a user without a billing date would be.
 */
function limitWindow(limit: Limit, window: Limit['window'], context: MatchContext, now: number): WindowBounds {
  if (limit.billing_anchor === undefined || (window !== 'month' && window !== 'year')) return windowBounds(window, now);
  const given = /^\d{4}-/.test(limit.billing_anchor) ? limit.billing_anchor : readPath(context, limit.billing_anchor);
  const anchor = parseAnchor(given);
  return anchor ? anchoredBounds(window, anchor, now) : windowBounds(window, now);
}

/** Resolves all of a rule's limits; see {@link resolveLimit}. */
export function resolveLimits(rule: Rule, context: MatchContext, now: number): ResolvedLimit[] {
  return (rule.then.limits ?? []).map((limit, i) => resolveLimit(rule, limit, i, context, now));
}
