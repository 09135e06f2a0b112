import type { WindowName } from './types.js';

/** One fixed window: when it started and when it resets (`null`: never). Times in ms since epoch. */
export interface WindowBounds {
  start: number;
  resetsAt: number | null;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * The fixed, UTC-aligned window that holds `now`: a minute, hour or day starts on its UTC
 * boundary, a month on the 1st at 00:00 UTC, a year on 1 January; `total` started at 0 and
 * never resets. A rolling window (`last_24h`, `last_30d`) is given as its current step: see
 * {@link rollingBounds}.
 */
export function windowBounds(window: WindowName, now: number): WindowBounds {
  const rolling = parseRolling(window);
  if (rolling) return fixed(now, rolling.step);
  switch (window) {
    case 'minute':
      return fixed(now, MINUTE);
    case 'hour':
      return fixed(now, HOUR);
    case 'day':
      return fixed(now, DAY);
    case 'month': {
      const d = new Date(now);
      return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), resetsAt: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
    }
    case 'year': {
      const y = new Date(now).getUTCFullYear();
      return { start: Date.UTC(y, 0, 1), resetsAt: Date.UTC(y + 1, 0, 1) };
    }
    default:
      return { start: 0, resetsAt: null };
  }
}

function fixed(now: number, size: number): WindowBounds {
  const start = Math.floor(now / size) * size;
  return { start, resetsAt: start + size };
}

/** Whole seconds from `now` until `resetsAt`, at least 1, for a `retry-after` header. */
export function secondsUntil(resetsAt: number, now: number): number {
  return Math.max(1, Math.ceil((resetsAt - now) / 1000));
}

/** The longest rolling windows: each step is one counter read per call, so the steps are bounded. */
export const MAX_ROLLING_HOURS = 168;
export const MAX_ROLLING_DAYS = 90;

/** The rolling-window names: `last_<n>h` (1 to 168 hours) and `last_<n>d` (1 to 90 days). */
export const ROLLING_PATTERN = /^last_([1-9][0-9]{0,2})(h|d)$/;

/** A rolling window of `steps` steps of `step` ms each (see {@link rollingBounds}). */
export interface Rolling {
  /** ms per step: an hour for `last_<n>h`, a day for `last_<n>d`. */
  step: number;
  steps: number;
}

/** The steps of a rolling window name, or undefined when `window` is not one (or is out of range). */
export function parseRolling(window: string): Rolling | undefined {
  const m = ROLLING_PATTERN.exec(window);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2] === 'h') return n <= MAX_ROLLING_HOURS ? { step: HOUR, steps: n } : undefined;
  return n <= MAX_ROLLING_DAYS ? { step: DAY, steps: n } : undefined;
}

/**
 * A rolling window at `now`: the current step (`bucket`, its counter), the `steps` earlier steps
 * (newest first), and when the current step's usage leaves the window. Usage is counted by the
 * step, and a step leaves only once all of it is older than the window: `last_24h` holds between
 * 24 and 25 hours of usage, so what was spent never leaves early and the cap holds over any 24 hours.
 */
export function rollingBounds(rolling: Rolling, now: number): { bucket: number; earlier: number[]; expiresAt: number } {
  const bucket = Math.floor(now / rolling.step) * rolling.step;
  const earlier: number[] = [];
  for (let i = 1; i <= rolling.steps; i++) earlier.push(bucket - i * rolling.step);
  return { bucket, earlier, expiresAt: bucket + (rolling.steps + 1) * rolling.step };
}

/** A billing date: the day of the month (and the month, for a year window) a window starts on. */
export interface Anchor {
  /** 0 to 11. */
  month: number;
  /** 1 to 31; a month with fewer days starts on its last day. */
  day: number;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A `YYYY-MM-DD` date (or a Date, as a YAML 1.1 reader gives one) as an anchor, or undefined when it is not a real date. */
export function parseAnchor(value: unknown): Anchor | undefined {
  if (value instanceof Date && Number.isFinite(value.getTime())) return { month: value.getUTCMonth(), day: value.getUTCDate() };
  if (typeof value !== 'string') return undefined;
  const m = DATE_PATTERN.exec(value.trim().slice(0, 10));
  if (!m || (value.trim().length > 10 && !/^T/.test(value.trim().slice(10)))) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
  const date = new Date(Date.UTC(y, mo, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo || date.getUTCDate() !== d) return undefined;
  return { month: mo, day: d };
}

/** 00:00 UTC of `day` in (year, month), or of the month's last day when it has fewer days (the 31st in April: the 30th). */
function clampedDate(year: number, month: number, day: number): number {
  const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(year, month, Math.min(day, last));
}

/**
 * The month or year window that holds `now`, starting on a billing date at 00:00 UTC instead of
 * the 1st: with the anchor 2026-11-17 a month runs from the 17th to the 17th, a year from 17
 * November. An anchor on the 29th to the 31st starts a shorter month on its last day (28 or 29
 * February), and the next window on the anchor's own day again.
 */
export function anchoredBounds(window: 'month' | 'year', anchor: Anchor, now: number): WindowBounds {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  if (window === 'year') {
    let start = clampedDate(y, anchor.month, anchor.day);
    if (start > now) start = clampedDate(y - 1, anchor.month, anchor.day);
    const sy = new Date(start).getUTCFullYear();
    return { start, resetsAt: clampedDate(sy + 1, anchor.month, anchor.day) };
  }
  const m = d.getUTCMonth();
  let start = clampedDate(y, m, anchor.day);
  let month = m;
  if (start > now) {
    month = m - 1;
    start = clampedDate(y, month, anchor.day);
  }
  return { start, resetsAt: clampedDate(y, month + 1, anchor.day) };
}
