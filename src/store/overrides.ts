/**
 * Limits changed at run time and prepaid credits: the records, the contract of the stores that
 * keep them (memory here; SQLite and PostgreSQL in `overrides-sqlite.ts`, `overrides-postgres.ts`),
 * and the memory store. Money is whole 1e-10 USD units (see `money.ts`).
 */
import { costUnits, formatUsd, usdOf } from './money.js';
import type { LedgerRow } from './types.js';

/** The field an override or a credit balance belongs to. */
export type OverrideTarget = 'user' | 'org' | 'plan';

/** Who an override or a balance is for: `account` is the gateway key's account, `''` for every account (CLI, embedded). */
export interface OverrideKey {
  account: string;
  target: OverrideTarget;
  /** The field's value, e.g. `alice`. */
  value: string;
}

/** One limit set at run time; it wins over the rules file's limit of that type for `target=value`. */
export interface LimitOverride extends OverrideKey {
  type: 'requests' | 'tokens' | 'cost' | 'concurrent';
  /** Requests, tokens, concurrent calls, or USD for `cost`. */
  max: number;
  /** A fixed window, or a rolling one (`last_24h`, `last_30d`). */
  window: 'minute' | 'hour' | 'day' | 'month' | 'year' | 'total' | `last_${number}h` | `last_${number}d`;
  /** ms since epoch after which the override no longer applies; null: until cleared. */
  until: number | null;
  note: string | null;
  /** Who set it (an admin key's account, `cli:<os user>`, or what the app passed). */
  setBy: string;
  /** ms since epoch. */
  setAt: number;
}

/** What a balance of prepaid credits holds: everything granted so far, in 1e-10 USD units. */
export interface CreditGrantTotal extends OverrideKey {
  grantedUnits: number;
}

/** One entry of the audit list: who changed what, and when. */
export interface OverrideChange {
  /** ms since epoch. */
  time: number;
  by: string;
  action: 'set' | 'clear' | 'credit';
  account: string;
  target: OverrideTarget;
  value: string;
  /** The limit type set or cleared (`credits` for a grant). */
  type: string;
  /** The override as set (`set`), or as it was before (`clear`). */
  max?: number;
  window?: string;
  until?: number | null;
  /** USD granted (`credit`). */
  usd?: number;
  note?: string | null;
}

/**
 * Where overrides, credit grants and their audit list are kept. Every change adds one audit entry
 * and raises {@link OverrideStore.version}, which each engine polls to pick changes up.
 */
export interface OverrideStore {
  /** A number that rises with every change (the last audit entry's id). */
  version(): Promise<number>;
  /** Every override, of every account. */
  list(): Promise<LimitOverride[]>;
  /** Sets (or replaces) the override of `o`'s account, target, value and type. */
  set(o: LimitOverride): Promise<void>;
  /** Clears an override. @returns false when there was none. */
  clear(key: OverrideKey, type: LimitOverride['type'], by: string, time: number): Promise<boolean>;
  /** Adds `units` (1e-10 USD, > 0) to a balance. @returns the balance's granted total after it. */
  grant(key: OverrideKey, units: number, by: string, time: number, note: string | null): Promise<number>;
  /** Every balance's granted total. */
  grants(): Promise<CreditGrantTotal[]>;
  /** The audit list, newest first, at most `limit` entries, of one account when given. */
  audit(query?: { account?: string; limit?: number }): Promise<OverrideChange[]>;
  close(): Promise<void>;
}

/** An override's `max` as the stores keep it: whole 1e-10 USD units for `cost`, else the count. */
export function maxUnits(type: string, max: number): number {
  return type === 'cost' ? costUnits(max) : max;
}

/** A stored `max` back to the override's unit. */
export function maxOf(type: string, stored: number): number {
  return type === 'cost' ? usdOf(stored) : stored;
}

/** An override as both stores keep its row (PostgreSQL gives numbers back as text, SQLite as numbers). */
export interface OverrideRow {
  account: string;
  target: LimitOverride['target'];
  value: string;
  type: LimitOverride['type'];
  max: number | string;
  window: LimitOverride['window'];
  until: number | string | null;
  note: string | null;
  set_by: string;
  set_at: number | string;
}

/** A stored row back to the override. */
export function overrideOfRow(r: OverrideRow): LimitOverride {
  return {
    account: r.account,
    target: r.target,
    value: r.value,
    type: r.type,
    max: maxOf(r.type, Number(r.max)),
    window: r.window,
    until: r.until === null ? null : Number(r.until),
    note: r.note,
    setBy: r.set_by,
    setAt: Number(r.set_at),
  };
}

/** The identity of an override in maps: account, target, value and type. */
export function overrideId(key: OverrideKey, type: string): string {
  return `${key.account}\u0000${key.target}\u0000${key.value}\u0000${type}`;
}

/** The audit entry of a `set`. */
export function setChange(o: LimitOverride): OverrideChange {
  return { time: o.setAt, by: o.setBy, action: 'set', account: o.account, target: o.target, value: o.value, type: o.type, max: o.max, window: o.window, until: o.until, note: o.note };
}

/** The audit entry of a `clear`, carrying what was cleared. */
export function clearChange(was: LimitOverride, by: string, time: number): OverrideChange {
  return { time, by, action: 'clear', account: was.account, target: was.target, value: was.value, type: was.type, max: was.max, window: was.window, until: was.until, note: was.note };
}

/** The audit entry of a grant. */
export function creditChange(key: OverrideKey, units: number, by: string, time: number, note: string | null): OverrideChange {
  return { time, by, action: 'credit', account: key.account, target: key.target, value: key.value, type: 'credits', usd: usdOf(units), note };
}

/** Newest first, of one account, at most `limit`. */
export function auditPage(entries: OverrideChange[], query: { account?: string; limit?: number } = {}): OverrideChange[] {
  const out = entries.filter((e) => query.account === undefined || e.account === query.account).reverse();
  return query.limit === undefined ? out : out.slice(0, query.limit);
}

/** Overrides, grants and their audit list in this process's memory: for tests and one-process apps. */
export function createMemoryOverrideStore(): OverrideStore {
  const overrides = new Map<string, LimitOverride>();
  const granted = new Map<string, CreditGrantTotal>();
  const log: OverrideChange[] = [];
  return {
    async version() {
      return log.length;
    },
    async list() {
      return [...overrides.values()].map((o) => ({ ...o }));
    },
    async set(o) {
      overrides.set(overrideId(o, o.type), { ...o });
      log.push(setChange(o));
    },
    async clear(key, type, by, time) {
      const id = overrideId(key, type);
      const was = overrides.get(id);
      if (!was) return false;
      overrides.delete(id);
      log.push(clearChange(was, by, time));
      return true;
    },
    async grant(key, units, by, time, note) {
      const id = overrideId(key, 'credits');
      const total = (granted.get(id)?.grantedUnits ?? 0) + units;
      granted.set(id, { account: key.account, target: key.target, value: key.value, grantedUnits: total });
      log.push(creditChange(key, units, by, time, note));
      return total;
    },
    async grants() {
      return [...granted.values()].map((g) => ({ ...g }));
    },
    async audit(query) {
      return auditPage(log, query);
    },
    async close() {},
  };
}

/** The `endpoint` of a ledger row that records a grant of credits (not a call). */
export const CREDIT_GRANT_ENDPOINT = 'tokenlay:credits';

/**
 * The ledger row of a grant: cost 0 (nothing was spent), action `credit`, the balance's field
 * (`user` or `org`) and `account`, and the amount granted as `credit_usd` (an exact decimal) with
 * `credit_by`. Usage summaries leave these rows out.
 */
export function creditGrantRow(key: OverrideKey, units: number, by: string, time: number): LedgerRow {
  return {
    time,
    fields: { [key.target]: key.value, ...(key.account === '' ? {} : { account: key.account }), credit_usd: formatUsd(units), credit_by: by },
    modelRequested: null,
    modelUsed: null,
    endpoint: CREDIT_GRANT_ENDPOINT,
    inputTokens: 0,
    outputTokens: 0,
    cachedTokens: 0,
    cost: 0,
    ruleId: null,
    action: 'credit',
    status: 200,
    latencyMs: 0,
    estimated: false,
  };
}

/** Whether a ledger row records a grant of credits rather than a call. */
export function isCreditGrant(row: LedgerRow): boolean {
  return row.endpoint === CREDIT_GRANT_ENDPOINT && row.action === 'credit';
}
