/** `--from` / `--to` of reconcile, simulate, usage and export: ISO 8601 dates only, and real ones. */
import { describe, expect, it } from 'vitest';
import { parseTime } from '../../src/cli/period.js';

describe('parseTime', () => {
  it('reads an ISO 8601 date as midnight UTC, and a date-time with its offset', () => {
    expect(new Date(parseTime('--from', '2026-11-01')).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(new Date(parseTime('--from', '2026-11-01T12:30:00Z')).toISOString()).toBe('2026-11-01T12:30:00.000Z');
    expect(new Date(parseTime('--from', '2026-11-01T12:30:00.250+02:00')).toISOString()).toBe('2026-11-01T10:30:00.250Z');
    expect(new Date(parseTime('--to', '2024-02-29')).toISOString()).toBe('2024-02-29T00:00:00.000Z');
  });

  it('refuses a day the calendar does not have instead of moving it to the next month', () => {
    expect(() => parseTime('--from', '2026-02-30')).toThrow(/--from "2026-02-30" is not a date/);
    expect(() => parseTime('--to', '2026-04-31')).toThrow(/--to "2026-04-31" is not a date/);
    expect(() => parseTime('--to', '2026-11-01T24:30:00Z')).toThrow(/is not a date/);
  });

  it('refuses what JavaScript would guess at (a bare number, a month name) rather than read it as a date in 2001', () => {
    for (const odd of ['1', 'Dec 1', '12/01/2026', 'yesterday', '2026-1-5']) expect(() => parseTime('--from', odd)).toThrow(/use an ISO 8601 date or date-time/);
  });
});
