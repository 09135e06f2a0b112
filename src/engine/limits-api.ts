/**
 * `engine.limits`: limits set, listed and cleared at run time, kept in the override store and
 * applied by every engine on it within a poll (at once by this one).
 */
import type { LimitOverride, OverrideChange } from '../store/overrides.js';
import { readBy, readLimitSet, readTarget, readType, type LimitSetInput, type TargetInput } from './override-input.js';
import type { LiveOverrides } from './overrides.js';

/** What `limits.clear()` takes: the target and the type of the override to clear. */
export interface LimitClearInput extends TargetInput {
  type: string;
  /** Who made the change, for the audit list. Default `app`. */
  by?: string;
}

/** Limits changed at run time, on an engine (`engine.limits`) or for one gateway account. */
export interface EngineLimits {
  /**
   * Sets one user's, org's or plan's limit of a type, replacing the rules file's limit of that
   * type for them (adding one when the rule has none), until `until` or until cleared.
   * `limits.set({ user: 'alice', type: 'cost', max: 50, window: 'month', until: '2027-01-31', note: 'trial' })`
   * @throws {TokenlayOverrideInputError} naming the field, the value and the fix.
   */
  set(input: LimitSetInput): Promise<LimitOverride>;
  /** The overrides in the store (of this handle's account, when it has one), expired ones included (`until` in the past). */
  list(): Promise<LimitOverride[]>;
  /** Clears one override. @returns false when there was none. @throws {TokenlayOverrideInputError} for a bad target or type. */
  clear(input: LimitClearInput): Promise<boolean>;
  /** Who changed what and when, newest first (at most `limit`, default 100). */
  audit(query?: { limit?: number }): Promise<OverrideChange[]>;
}

/** A time as JSON answers give it: ISO 8601 to the second (`2027-02-01T00:00:00Z`), as `resets_at` is. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** An override as JSON (the admin API, `tokenlay limits list --json`): its times in ISO 8601. */
export function overrideJson(o: LimitOverride): Omit<LimitOverride, 'until' | 'setAt'> & { until: string | null; setAt: string } {
  return { ...o, until: o.until === null ? null : isoTime(o.until), setAt: isoTime(o.setAt) };
}

/** An audit entry as JSON: its times in ISO 8601. */
export function changeJson(c: OverrideChange): Omit<OverrideChange, 'time' | 'until'> & { time: string; until?: string | null } {
  const { until, ...rest } = c;
  return { ...rest, time: isoTime(c.time), ...(until === undefined ? {} : { until: until === null ? null : isoTime(until) }) };
}

/** The limits handle of `account` (`''`: overrides that apply to every account). */
export function limitsApi(live: LiveOverrides, now: () => number, account = ''): EngineLimits {
  const { store } = live;
  return {
    async set(input) {
      const o = readLimitSet(input, account, now());
      await store.set(o);
      await live.refresh();
      return o;
    },
    async list() {
      const all = await store.list();
      return account === '' ? all : all.filter((o) => o.account === account);
    },
    async clear(input) {
      const key = readTarget(input, account);
      const type = readType(input?.type);
      const cleared = await store.clear(key, type, readBy(input.by), now());
      await live.refresh();
      return cleared;
    },
    audit(query) {
      return store.audit({ ...(account === '' ? {} : { account }), limit: query?.limit ?? 100 });
    },
  };
}
