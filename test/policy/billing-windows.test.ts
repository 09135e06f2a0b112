import { describe, expect, it } from 'vitest';
import type { TokenlayRulesError } from '../../src/policy/errors.js';
import { validateRules } from '../../src/policy/validate.js';
import { anchoredBounds, parseAnchor, parseRolling, rollingBounds } from '../../src/policy/windows.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().slice(0, 10));
const month = (anchor: string, now: string) => {
  const b = anchoredBounds('month', parseAnchor(anchor)!, at(now));
  return [iso(b.start), iso(b.resetsAt)];
};

describe('billing-date windows', () => {
  it('runs a month from the anchor day to the anchor day, across a year end', () => {
    expect(month('2026-11-17', '2026-12-06T12:00:00Z')).toEqual(['2026-11-17', '2026-12-17']);
    expect(month('2026-11-17', '2026-12-17T00:00:00Z')).toEqual(['2026-12-17', '2027-01-17']);
    expect(month('2026-11-17', '2027-01-16T23:59:59Z')).toEqual(['2026-12-17', '2027-01-17']);
  });

  it('starts a month shorter than the anchor day on its last day, a leap February on the 29th', () => {
    expect(month('2026-01-31', '2027-02-28T00:00:00Z')).toEqual(['2027-02-28', '2027-03-31']);
    expect(month('2026-01-31', '2027-02-27T23:00:00Z')).toEqual(['2027-01-31', '2027-02-28']);
    expect(month('2026-01-31', '2028-02-29T00:00:00Z')).toEqual(['2028-02-29', '2028-03-31']);
    expect(month('2026-01-30', '2028-02-28T23:59:59Z')).toEqual(['2028-01-30', '2028-02-29']);
    expect(month('2026-01-30', '2028-03-01T00:00:00Z')).toEqual(['2028-02-29', '2028-03-30']);
  });

  it('runs a year on a leap-day anchor from 28 February in common years', () => {
    const year = (now: string) => {
      const b = anchoredBounds('year', parseAnchor('2024-02-29')!, at(now));
      return [iso(b.start), iso(b.resetsAt)];
    };
    expect(year('2026-12-06T00:00:00Z')).toEqual(['2026-02-28', '2027-02-28']);
    expect(year('2027-02-28T00:00:00Z')).toEqual(['2027-02-28', '2028-02-29']);
    expect(year('2028-02-29T00:00:00Z')).toEqual(['2028-02-29', '2029-02-28']);
  });

  it('refuses a date that is not one', () => {
    expect(parseAnchor('2026-02-30')).toBeUndefined();
    expect(parseAnchor('2026-13-01')).toBeUndefined();
    expect(parseAnchor('17th')).toBeUndefined();
    expect(parseAnchor('2028-02-29')).toEqual({ month: 1, day: 29 });
  });
});

describe('rolling windows', () => {
  it('counts the last 24 hours by the hour and the last 30 days by the day, never letting usage leave early', () => {
    const h = rollingBounds(parseRolling('last_24h')!, at('2026-03-01T00:30:00Z'));
    expect(new Date(h.bucket).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(h.earlier).toHaveLength(24);
    expect(new Date(h.earlier.at(-1)!).toISOString()).toBe('2026-02-28T00:00:00.000Z');
    expect(new Date(h.expiresAt).toISOString()).toBe('2026-03-02T01:00:00.000Z');
    const d = rollingBounds(parseRolling('last_30d')!, at('2028-03-01T12:00:00Z'));
    expect(new Date(d.earlier.at(-1)!).toISOString()).toBe('2028-01-31T00:00:00.000Z');
    expect(parseRolling('last_169h')).toBeUndefined();
    expect(parseRolling('last_91d')).toBeUndefined();
  });
});

describe('rules file syntax', () => {
  const doc = (limit: object) => ({ version: '0.1', fields: ['billing_date'], rules: [{ id: 'r', if: {}, then: { limits: [{ type: 'cost', max: 5, per: 'user', ...limit }] } }] });
  const problems = (limit: object) => {
    try {
      validateRules(doc(limit));
      return [];
    } catch (err) {
      return (err as TokenlayRulesError).problems;
    }
  };

  it('accepts a date, a field, a rolling window and a list of warn_at thresholds', () => {
    const limits = (d: object) => validateRules(doc(d)).rules[0]!.then.limits![0]!;
    expect(limits({ window: 'month', billing_anchor: '2026-11-17' }).billing_anchor).toBe('2026-11-17');
    expect(limits({ window: 'month', billing_anchor: 'billing_date' }).billing_anchor).toBe('billing_date');
    expect(limits({ window: 'last_30d' }).window).toBe('last_30d');
    expect(limits({ window: 'day', warn_at: [0.95, 0.5, 0.8] }).warn_at).toEqual([0.5, 0.8, 0.95]);
    expect(limits({ window: 'day', warn_at: 0.8 }).warn_at).toBe(0.8);
  });

  it('says what is wrong with a bad anchor, window or threshold', () => {
    expect(problems({ window: 'month', billing_anchor: '2026-02-30' })).toEqual([
      'rules[0].then.limits[0].billing_anchor: expected a date YYYY-MM-DD (e.g. 2026-11-17) or the name of a field carrying each user\'s date, got "2026-02-30"',
    ]);
    expect(problems({ window: 'day', billing_anchor: '2026-11-17' })[0]).toContain('only a month or year window starts on a billing date');
    expect(problems({ window: 'last_400d' })[0]).toEqual('rules[0].then.limits[0].window: expected a rolling window last_<n>h (n from 1 to 168) or last_<n>d (n from 1 to 90), got "last_400d"');
    // A rolling window written another way is answered with the spelling the file takes.
    expect(problems({ window: 'rolling_24h' })).toEqual([
      'rules[0].then.limits[0].window: expected one of minute|hour|day|month|year|total, or a rolling window last_<n>h (n from 1 to 168) or last_<n>d (n from 1 to 90); for the last 24 hours write last_24h, got "rolling_24h"',
    ]);
    expect(problems({ window: '30d' })[0]).toContain('for the last 30 days write last_30d, got "30d"');
    expect(problems({ window: 'last_30_days' })[0]).toContain('for the last 30 days write last_30d, got "last_30_days"');
    expect(problems({ window: '24 hours' })[0]).toContain('for the last 24 hours write last_24h');
    expect(problems({ window: 'week' })[0]).toEqual(
      'rules[0].then.limits[0].window: expected one of minute|hour|day|month|year|total, or a rolling window last_<n>h (n from 1 to 168) or last_<n>d (n from 1 to 90), got "week"',
    );
    expect(problems({ window: 'day', warn_at: [0.5, 1.2] })).toEqual([
      'rules[0].then.limits[0].warn_at[1]: expected a fraction between 0 and 1 (exclusive), e.g. 0.8, got 1.2',
    ]);
  });
});
