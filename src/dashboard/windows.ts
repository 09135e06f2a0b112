/** The windows the page offers: the last 24 hours, 7 days, 30 days, or the month to date (UTC). */
export const PAGE_WINDOWS = ['24h', '7d', '30d', 'mtd'] as const;
export type PageWindow = (typeof PAGE_WINDOWS)[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The range a page window covers at `now` and the chart's bucket size (ms). */
export interface PageRange {
  window: PageWindow;
  from: number;
  /** Exclusive. */
  to: number;
  bucketMs: number;
}

/** The range of a page window; bucket edges are aligned to the bucket size so points stay put as time passes. */
export function pageRange(window: PageWindow, now: number): PageRange {
  const to = now + 1;
  switch (window) {
    case '24h':
      return { window, from: Math.floor((now - DAY) / HOUR) * HOUR + HOUR, to, bucketMs: HOUR };
    case '7d':
      return { window, from: Math.floor((now - 7 * DAY) / (6 * HOUR)) * 6 * HOUR + 6 * HOUR, to, bucketMs: 6 * HOUR };
    case '30d':
      return { window, from: Math.floor((now - 30 * DAY) / DAY) * DAY + DAY, to, bucketMs: DAY };
    case 'mtd': {
      const d = new Date(now);
      return { window, from: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), to, bucketMs: DAY };
    }
  }
}
