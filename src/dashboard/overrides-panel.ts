/** The overrides and balances of credits the Limits panel lists beside the counters. */
import { creditsCounterKey, escapeKeyPart } from '../policy/limits.js';
import { costUnits, usdOf } from '../store/money.js';
import type { OverrideStore } from '../store/overrides.js';
import type { CounterStore } from '../store/types.js';

/** One override as the page shows it. Times are ms since epoch. */
export interface OverrideRow {
  /** `user=alice`. */
  who: string;
  /** The gateway account; `''` for every account. */
  account: string;
  type: string;
  /** Requests, tokens, calls in flight, or USD for `cost`. */
  max: number;
  window: string;
  until: number | null;
  /** True once `until` has passed: it no longer applies. */
  ended: boolean;
  note: string | null;
  setBy: string;
  setAt: number;
}

/** One balance of credits as the page shows it; USD. */
export interface CreditRow {
  who: string;
  account: string;
  granted: number;
  used: number;
  remaining: number;
}

/** The Limits panel's overrides and balances, of one account when `account` is given (a signed-in key). */
export async function overridesPanel(overrides: OverrideStore | undefined, counters: CounterStore, account: string | undefined, now: number): Promise<{ overrides: OverrideRow[]; credits: CreditRow[] }> {
  if (!overrides) return { overrides: [], credits: [] };
  // A signed-in account sees its own and those set for every account (they apply to its calls too).
  const mine = (a: string) => account === undefined || a === account || a === '';
  const [list, grants] = await Promise.all([overrides.list(), overrides.grants()]);
  // A balance granted for no account is drawn by the calls of every account without one of its own.
  const own = new Set(grants.filter((g) => account !== undefined && g.account === account).map((g) => `${g.target}=${g.value}`));
  const credits = await Promise.all(
    grants
      .filter((g) => account === undefined || g.account === account || (g.account === '' && !own.has(`${g.target}=${g.value}`)))
      .map(async (g): Promise<CreditRow> => {
        const { used, reserved } = await counters.read(creditsCounterKey(g.account, `${escapeKeyPart(g.target)}=${escapeKeyPart(g.value)}`), 'cost', 0, now);
        const usedUnits = costUnits(used);
        const shared = account !== undefined && account !== '' && g.account === '';
        return { who: `${g.target}=${g.value}${shared ? ' (every account)' : ''}`, account: g.account, granted: usdOf(g.grantedUnits), used: usdOf(usedUnits), remaining: usdOf(Math.max(0, g.grantedUnits - usedUnits - costUnits(reserved))) };
      }),
  );
  return {
    overrides: list
      .filter((o) => mine(o.account))
      .map((o) => ({ who: `${o.target}=${o.value}`, account: o.account, type: o.type, max: o.max, window: o.window, until: o.until, ended: o.until !== null && o.until <= now, note: o.note, setBy: o.setBy, setAt: o.setAt })),
    credits: credits.sort((a, b) => a.remaining - b.remaining || a.who.localeCompare(b.who)),
  };
}
