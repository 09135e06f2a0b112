/**
 * The overrides and balances an engine applies: a snapshot of its override store, refreshed when
 * the store's version moves (polled every second), so a change made anywhere reaches every
 * instance within a poll and a call never waits on a database for it.
 */
import type { Decision } from '../policy/evaluate.js';
import { resolveLimits } from '../policy/limits.js';
import { withOverrides, type OverrideLimit, type OverrideView } from '../policy/overrides.js';
import type { RulesDocument } from '../policy/types.js';
import { usdOf } from '../store/money.js';
import { overrideId, type CreditGrantTotal, type LimitOverride, type OverrideStore } from '../store/overrides.js';

/** How often an engine asks its override store whether anything changed (ms). */
export const OVERRIDES_POLL_MS = 1000;

/** An override store and the snapshot of it that calls read. */
export interface LiveOverrides {
  readonly store: OverrideStore;
  /** The snapshot in force. */
  view(): OverrideView;
  /** Resolves once the first snapshot is read (or could not be: calls then run without overrides until a poll succeeds). */
  readonly ready: Promise<void>;
  /** Reads the store now if its version moved (after a change made through this engine). */
  refresh(): Promise<void>;
  close(): void;
}

function snapshot(overrides: LimitOverride[], grants: CreditGrantTotal[]): OverrideView {
  const byId = new Map(overrides.map((o) => [overrideId(o, o.type), o]));
  const granted = new Map(grants.map((g) => [overrideId(g, 'credits'), g.grantedUnits]));
  const inForce = (o: LimitOverride | undefined, now: number) => (o && (o.until === null || now < o.until) ? o : undefined);
  return {
    empty: byId.size === 0 && granted.size === 0,
    find(account, target, value, type, now): OverrideLimit | undefined {
      // The account's own override wins over one set for every account.
      const o = inForce(byId.get(overrideId({ account, target, value }, type)), now) ?? (account === '' ? undefined : inForce(byId.get(overrideId({ account: '', target, value }, type)), now));
      return o && { type: o.type, max: o.max, window: o.window };
    },
    balance(account, target, value) {
      // Balances are per account: a grant for no account serves calls that carry none, and those of accounts with none of their own.
      const own = granted.get(overrideId({ account, target, value }, 'credits'));
      if (own !== undefined) return { account, granted: usdOf(own) };
      const shared = account === '' ? undefined : granted.get(overrideId({ account: '', target, value }, 'credits'));
      return shared === undefined ? undefined : { account: '', granted: usdOf(shared) };
    },
  };
}

/** Watches `store`; `onError` hears a poll that failed (the last snapshot stays in force). */
export function liveOverrides(store: OverrideStore, pollMs = OVERRIDES_POLL_MS, onError?: (error: unknown) => void): LiveOverrides {
  let view = snapshot([], []);
  let seen: number | undefined;
  const read = async () => {
    const version = await store.version();
    if (version === seen) return;
    const [overrides, grants] = await Promise.all([store.list(), store.grants()]);
    view = snapshot(overrides, grants);
    seen = version;
  };
  // Reads run one after another: one asked for after a change starts after any read in flight,
  // which may have read the store before the change.
  let last: Promise<void> = Promise.resolve();
  let pending = 0;
  const refresh = () => {
    pending++;
    last = last.catch(() => {}).then(read).finally(() => pending--);
    return last;
  };
  const ready = refresh().catch((error: unknown) => onError?.(error));
  const timer = setInterval(() => {
    if (pending === 0) void refresh().catch((error: unknown) => onError?.(error));
  }, pollMs);
  timer.unref();
  return {
    store,
    view: () => view,
    ready,
    refresh,
    close: () => clearInterval(timer),
  };
}

/** The decision with the call's overrides applied: the rule they change, and its limits resolved again. */
export function withCallOverrides(decision: Decision, view: OverrideView | undefined, doc: RulesDocument | undefined, now: number): Decision {
  const rule = withOverrides(decision.rule, decision.context, view, doc, now);
  if (rule === decision.rule || rule === null) return decision;
  return { ...decision, rule, limits: resolveLimits(rule, decision.context, now) };
}
