import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { secondsUntil, windowBounds } from '../../src/policy/index.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('windowBounds', () => {
  const now = at('2026-02-28T23:59:59.999Z');

  it('aligns every window to UTC boundaries', () => {
    const bounds = (w: Parameters<typeof windowBounds>[0]) => {
      const b = windowBounds(w, now);
      return [iso(b.start), iso(b.resetsAt)];
    };
    expect(bounds('minute')).toEqual(['2026-02-28T23:59:00.000Z', '2026-03-01T00:00:00.000Z']);
    expect(bounds('hour')).toEqual(['2026-02-28T23:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    expect(bounds('day')).toEqual(['2026-02-28T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    expect(bounds('month')).toEqual(['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    expect(bounds('year')).toEqual(['2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(windowBounds('total', now)).toEqual({ start: 0, resetsAt: null });
  });

  it('starts the next window exactly at the boundary', () => {
    expect(iso(windowBounds('month', at('2026-12-01T00:00:00.000Z')).start)).toBe('2026-12-01T00:00:00.000Z');
    expect(iso(windowBounds('month', at('2026-12-31T12:00:00Z')).resetsAt)).toBe('2027-01-01T00:00:00.000Z');
    expect(iso(windowBounds('month', at('2024-02-29T12:00:00Z')).resetsAt)).toBe('2024-03-01T00:00:00.000Z');
  });

  it('always holds now within [start, resetsAt), for any time and window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Date.parse('2200-01-01') }),
        fc.constantFrom('minute', 'hour', 'day', 'month', 'year') as fc.Arbitrary<'minute'>,
        (t, w) => {
          const b = windowBounds(w, t);
          return b.start <= t && t < b.resetsAt! && windowBounds(w, b.resetsAt!).start === b.resetsAt;
        },
      ),
    );
  });

  it('rounds retry-after up to whole seconds, at least one', () => {
    expect(secondsUntil(10_001, 0)).toBe(11);
    expect(secondsUntil(5, 5)).toBe(1);
  });
});
