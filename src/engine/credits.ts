/**
 * `engine.credits`: prepaid balances per user or org. A grant adds to the balance's granted total
 * in the override store and writes a ledger row; a `credits` limit draws the balance down through
 * the counter store like a cost cap that never resets, so reservation and clamp hold it at zero.
 */
import { creditsCounterKey, escapeKeyPart } from '../policy/limits.js';
import { costUnits, usdOf } from '../store/money.js';
import { creditGrantRow, type OverrideKey } from '../store/overrides.js';
import type { CounterStore, Ledger } from '../store/types.js';
import { readBy, readTarget, readUsd, TokenlayOverrideInputError, type TargetInput } from './override-input.js';
import type { LiveOverrides } from './overrides.js';

/** A balance of credits; amounts in USD. */
export interface CreditBalance {
  target: 'user' | 'org';
  value: string;
  /** The gateway account (`''` embedded). */
  account: string;
  /** Everything granted so far. */
  granted: number;
  /** Spent by settled calls. */
  used: number;
  /** Held by calls in flight (their upper bound). */
  reserved: number;
  /** `granted - used - reserved`, never below 0. */
  remaining: number;
}

/** What `credits.add()` takes. */
export interface CreditAddInput {
  user?: string;
  org?: string;
  /** USD to add, > 0. */
  usd: number | string;
  /** Why (kept in the audit list). */
  note?: string | null;
  /** Who granted, for the audit list and the ledger row. Default `app`. */
  by?: string;
}

/** Prepaid balances, on an engine (`engine.credits`) or for one gateway account. */
export interface EngineCredits {
  /**
   * Adds USD to the balance of a user or org: `credits.add({ user: 'alice', usd: 10 })`. Recorded in
   * the ledger (a row with action `credit`) and the audit list.
   * @returns the balance after the grant. @throws {TokenlayOverrideInputError} naming the field, the value and the fix.
   */
  add(input: CreditAddInput): Promise<CreditBalance>;
  /** The balance of a user or org: `credits.balance({ user: 'alice' })`. */
  balance(input: TargetInput): Promise<CreditBalance>;
  /** Every balance granted (of this handle's account, when it has one). */
  list(): Promise<CreditBalance[]>;
}

function readCreditTarget(input: TargetInput, account: string): OverrideKey & { target: 'user' | 'org' } {
  if (input && (input as TargetInput).plan !== undefined) {
    throw new TokenlayOverrideInputError('tokenlay credits: a balance belongs to a user or an org, not a plan; use --user NAME or --org NAME.', 'plan');
  }
  const given = (['user', 'org'] as const).filter((t) => input?.[t] !== undefined && input[t] !== null);
  if (given.length !== 1) {
    throw new TokenlayOverrideInputError(`tokenlay credits: name exactly one of user or org (e.g. --user alice); got ${given.length === 0 ? 'none' : given.join(' and ')}.`, 'user');
  }
  return readTarget(input, account) as OverrideKey & { target: 'user' | 'org' };
}

/** The credits handle of `account` (`''`: balances granted for no account, drawn by calls that carry none and by accounts with none of their own). */
export function creditsApi(live: LiveOverrides, counters: CounterStore, ledger: Pick<Ledger, 'record'>, now: () => number, account = ''): EngineCredits {
  const { store } = live;
  async function balanceOf(key: OverrideKey & { target: 'user' | 'org' }, grantedUnits: number): Promise<CreditBalance> {
    const counter = creditsCounterKey(key.account, `${escapeKeyPart(key.target)}=${escapeKeyPart(key.value)}`);
    const { used, reserved } = await counters.read(counter, 'cost', 0, now());
    const usedUnits = costUnits(used);
    const reservedUnits = costUnits(reserved);
    return {
      target: key.target,
      value: key.value,
      account: key.account,
      granted: usdOf(grantedUnits),
      used: usdOf(usedUnits),
      reserved: usdOf(reservedUnits),
      remaining: usdOf(Math.max(0, grantedUnits - usedUnits - reservedUnits)),
    };
  }
  const grantedOf = async (key: OverrideKey) =>
    (await store.grants()).find((g) => g.account === key.account && g.target === key.target && g.value === key.value)?.grantedUnits ?? 0;
  return {
    async add(input) {
      const key = readCreditTarget(input, account);
      const units = costUnits(readUsd(input.usd));
      const by = readBy(input.by);
      const note = typeof input.note === 'string' ? input.note.slice(0, 500) : null;
      const time = now();
      const total = await store.grant(key, units, by, time, note);
      ledger.record(creditGrantRow(key, units, by, time));
      await live.refresh();
      return balanceOf(key, total);
    },
    async balance(input) {
      const key = readCreditTarget(input, account);
      return balanceOf(key, await grantedOf(key));
    },
    async list() {
      const grants = (await store.grants()).filter((g) => (account === '' || g.account === account) && g.target !== 'plan');
      return Promise.all(grants.map((g) => balanceOf(g as OverrideKey & { target: 'user' | 'org' }, g.grantedUnits)));
    },
  };
}
