/** Checks what `limits.set()`, `credits.add()`, the CLI and the admin API are given, with messages that say the fix. */
import { MAX_ROLLING_DAYS, MAX_ROLLING_HOURS, parseRolling } from '../policy/windows.js';
import { costUnits, usdOf } from '../store/money.js';
import type { OverrideKey, OverrideTarget, LimitOverride } from '../store/overrides.js';

/** A bad override or credit input: `field` names what was wrong (the admin API answers it 400). */
export class TokenlayOverrideInputError extends Error {
  override name = 'TokenlayOverrideInputError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Who a limit or balance is for: exactly one of them. */
export interface TargetInput {
  user?: string;
  org?: string;
  plan?: string;
}

/** What `limits.set()` takes. */
export interface LimitSetInput extends TargetInput {
  /** `requests`, `tokens`, `cost` (USD) or `concurrent`. */
  type: string;
  /** The new limit: requests, tokens, concurrent calls, or USD for `cost`. */
  max: number;
  /** `minute`, `hour`, `day`, `month`, `year`, `total`, or rolling (`last_24h`, `last_30d`); `concurrent` needs none. */
  window?: string;
  /** When the override ends: a date (`2027-01-31`: the end of that day, UTC), an ISO time, a Date, or ms since epoch. None: until cleared. */
  until?: string | number | Date | null;
  /** Why (shown in `limits list` and the audit list), at most 500 characters. */
  note?: string | null;
  /** Who made the change, for the audit list. Default `app`. */
  by?: string;
}

const TYPES = ['requests', 'tokens', 'cost', 'concurrent'] as const;
const WINDOWS = ['minute', 'hour', 'day', 'month', 'year', 'total'] as const;
const DAY_MS = 86_400_000;

const bad = (field: string, message: string) => new TokenlayOverrideInputError(`tokenlay limits: ${message}`, field);

/** The one target given. @throws {TokenlayOverrideInputError} when none or several are. */
export function readTarget(input: TargetInput, account: string): OverrideKey {
  const given = (['user', 'org', 'plan'] as const).filter((t) => input[t] !== undefined && input[t] !== null);
  if (given.length !== 1) {
    throw bad('user', `name exactly one of user, org or plan (e.g. --user alice); got ${given.length === 0 ? 'none' : given.join(' and ')}.`);
  }
  const target: OverrideTarget = given[0]!;
  const value = input[target];
  if (typeof value !== 'string' || value.trim() === '' || value.length > 256) {
    throw bad(target, `${target} must be a non-empty string of at most 256 characters, as the call's field; got ${JSON.stringify(value)}.`);
  }
  return { account, target, value };
}

/** The limit type given. @throws {TokenlayOverrideInputError} for any other. */
export function readType(type: unknown): LimitOverride['type'] {
  if (type === undefined || type === null) throw bad('type', `type is missing; give one of ${TYPES.join(', ')} (e.g. --type cost).`);
  if (!TYPES.includes(type as LimitOverride['type'])) {
    throw bad('type', `type must be one of ${TYPES.join(', ')} (a balance of credits is added with credits add); got ${JSON.stringify(type)}.`);
  }
  return type as LimitOverride['type'];
}

/** `until` as ms since epoch, or null. */
export function readUntil(until: LimitSetInput['until'], now: number): number | null {
  if (until === undefined || until === null || until === '') return null;
  let ms: number;
  if (until instanceof Date) ms = until.getTime();
  else if (typeof until === 'number') ms = until;
  else if (/^\d{4}-\d{2}-\d{2}$/.test(until)) ms = Date.parse(`${until}T00:00:00Z`) + DAY_MS;
  else ms = Date.parse(until);
  // Date.parse takes 2027-02-30 as 2 March: an override would end on a day nobody asked for.
  const day = typeof until === 'string' ? /^(\d{4})-(\d{2})-(\d{2})(?:T|$)/.exec(until) : null;
  if (day && new Date(Date.UTC(+day[1]!, +day[2]! - 1, +day[3]!)).getUTCDate() !== +day[3]!) {
    throw bad('until', `until has no such day: ${JSON.stringify(until)}; give a date of the calendar (2027-02-28, meaning the end of that day UTC) or an ISO time.`);
  }
  if (!Number.isFinite(ms)) throw bad('until', `until must be a date (2027-01-31, meaning the end of that day UTC) or an ISO time (2027-01-31T12:00:00Z); got ${JSON.stringify(until)}.`);
  if (ms <= now) throw bad('until', `until ${JSON.stringify(until)} is already past (now ${new Date(now).toISOString()}); give a later date, or leave it out for no end.`);
  return ms;
}

/** A full override from `limits.set()` input. @throws {TokenlayOverrideInputError} naming the field, the value and the fix. */
export function readLimitSet(input: LimitSetInput, account: string, now: number): LimitOverride {
  if (typeof input !== 'object' || input === null) throw bad('type', `limits.set() takes an object { user | org | plan, type, max, window, until?, note? }; got ${String(input)}.`);
  const key = readTarget(input, account);
  const type = readType(input.type);
  if (input.max === undefined || input.max === null) throw bad('max', `max is missing; give the new limit (${type === 'cost' ? 'USD' : `whole ${type}`}), e.g. --max 50.`);
  const max = typeof input.max === 'string' && (input.max as string).trim() !== '' ? Number(input.max) : input.max;
  if (typeof max !== 'number' || !Number.isFinite(max) || max < 0 || (type !== 'cost' && !Number.isInteger(max))) {
    throw bad('max', `max must be a number ≥ 0 (${type === 'cost' ? 'USD' : `whole ${type}`}); got ${JSON.stringify(input.max)}.`);
  }
  const window = input.window ?? (type === 'concurrent' ? 'total' : undefined);
  if (window === undefined) throw bad('window', `window is missing; give one of ${WINDOWS.join(', ')} (e.g. --window month).`);
  if (!(WINDOWS as readonly string[]).includes(window as string) && (typeof window !== 'string' || !parseRolling(window))) {
    throw bad(
      'window',
      `window must be one of ${WINDOWS.join(', ')}, or a rolling window last_<n>h (n from 1 to ${MAX_ROLLING_HOURS}) or last_<n>d (n from 1 to ${MAX_ROLLING_DAYS}) (e.g. --window month); got ${JSON.stringify(input.window)}.`,
    );
  }
  const note = input.note ?? null;
  if (note !== null && (typeof note !== 'string' || note.length > 500)) throw bad('note', `note must be text of at most 500 characters; got ${typeof note === 'string' ? `${note.length} characters` : JSON.stringify(note)}.`);
  return { ...key, type, max, window: window as LimitOverride['window'], until: readUntil(input.until, now), note, setBy: readBy(input.by), setAt: now };
}

/** Who made a change: default `app`. */
export function readBy(by: unknown): string {
  if (by === undefined || by === null) return 'app';
  if (typeof by !== 'string' || by.trim() === '' || by.length > 200) throw bad('by', `by must name who made the change (at most 200 characters); got ${JSON.stringify(by)}.`);
  return by;
}

/** USD to grant: a positive amount of at most 10 decimals. */
export function readUsd(usd: unknown): number {
  const n = typeof usd === 'string' && usd.trim() !== '' ? Number(usd) : usd;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 1e9) {
    throw new TokenlayOverrideInputError(`tokenlay credits: usd must be a positive amount of USD (e.g. --usd 10); got ${JSON.stringify(usd)}.`, 'usd');
  }
  // A balance is kept in 1e-10 USD: a finer amount would be granted as another one (or as $0).
  if (usdOf(costUnits(n)) !== n) {
    throw new TokenlayOverrideInputError(`tokenlay credits: usd is kept to at most 10 decimals (1e-10 USD); got ${JSON.stringify(usd)}. Round it, e.g. --usd ${usdOf(Math.max(1, costUnits(n)))}.`, 'usd');
  }
  return n;
}
