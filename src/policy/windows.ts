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
 * never resets.
 */
export function windowBounds(window: WindowName, now: number): WindowBounds {
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
    case 'total':
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
