/** The periods `tokenlay usage` and `tokenlay export` accept with `--window`. */
export const PERIOD_WINDOWS = ['day', 'week', 'month'] as const;
export type PeriodWindow = (typeof PERIOD_WINDOWS)[number];

/** A half-open time range in ms since epoch: `from` inclusive, `to` exclusive. */
export interface Period {
  from: number;
  to: number;
}

const DAY = 86_400_000;

/**
 * The current UTC calendar window up to `now`: `day` from 00:00 UTC today, `week` from Monday
 * 00:00 UTC, `month` from the 1st at 00:00 UTC (the windows limits use).
 */
export function windowPeriod(window: PeriodWindow, now: number): Period {
  const d = new Date(now);
  const today = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (window === 'day') return { from: today, to: now + 1 };
  if (window === 'week') return { from: today - ((d.getUTCDay() + 6) % 7) * DAY, to: now + 1 };
  return { from: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), to: now + 1 };
}

/**
 * Reads a `--from`/`--to` value: an ISO 8601 date (`2026-11-01`, midnight UTC) or date-time.
 * @throws an Error naming the flag, the value and the accepted forms.
 */
export function parseTime(flag: string, value: string): number {
  // ISO 8601 only: Date.parse alone reads "1" as 2001, "Dec 1" as 2001-12-01, and moves
  // 2026-02-30 to March 2 without a word.
  const m = ISO_TIME.exec(value.trim());
  const ms = m ? Date.parse(m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : value.trim()) : NaN;
  const [y, mo, d] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  const realDay = m !== null && mo >= 1 && mo <= 12 && d >= 1 && d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
  const realTime = m === null || m[4] === undefined || (Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6] ?? 0) <= 59);
  if (Number.isNaN(ms) || !realDay || !realTime) throw new Error(`${flag} "${value}" is not a date; use an ISO 8601 date or date-time such as 2026-11-01 or 2026-11-01T12:00:00Z.`);
  return ms;
}

/** `YYYY-MM-DD`, optionally `THH:MM[:SS[.fff]]` and `Z` or an offset. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * The period a command covers: `--from`/`--to` when given (`--to` defaults to now, `--from` to
 * the start of `--window`), else the current `--window` (default `month`).
 * @throws an Error for an unknown window, a bad date, or `--from` not before `--to`.
 */
export function resolvePeriod(opts: { window?: string | undefined; from?: string | undefined; to?: string | undefined }, now: number): Period & { window: PeriodWindow } {
  const window = (opts.window ?? 'month') as PeriodWindow;
  if (!PERIOD_WINDOWS.includes(window)) {
    throw new Error(`--window "${opts.window}" is not a window; use one of ${PERIOD_WINDOWS.join('|')}, or --from/--to for a range.`);
  }
  const base = windowPeriod(window, now);
  const from = opts.from === undefined ? base.from : parseTime('--from', opts.from);
  const to = opts.to === undefined ? Math.max(base.to, from + 1) : parseTime('--to', opts.to);
  if (from >= to) throw new Error(`--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()}).`);
  return { window, from, to };
}
