import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchCondition, validateRules, TokenlayRulesError } from '../../src/policy/index.js';

/** Spellings of the number n that are not its canonical string. */
function otherSpellings(n: number): string[] {
  const s = String(n);
  const unsigned = s.replace(/^-/, '');
  const sign = s.startsWith('-') ? '-' : '';
  return [`${sign}0${unsigned}`, `${s}.0`, ...(sign ? [] : [`+${s}`]), `${s}e0`, ` ${s} `, `${s} `];
}

describe('equality compares canonical strings', () => {
  it("{ user: 1 } matches '1' and not '01', '1.0', '+1', '1e0' or ' 1 '", () => {
    expect(matchCondition({ user: 1 }, { user: '1' })).toBe(true);
    for (const other of ['01', '1.0', '+1', '1e0', ' 1 ']) expect(matchCondition({ user: 1 }, { user: other }), other).toBe(false);
    expect(matchCondition({ user: { eq: 1 } }, { user: '1.0' })).toBe(false);
    expect(matchCondition({ user: { in: [1, 2] } }, { user: '01' })).toBe(false);
    expect(matchCondition({ user: { neq: 1 } }, { user: '1.0' })).toBe(true);
  });

  it('a number matches exactly its canonical string, for every integer and decimal (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })), (n) => {
        if (Object.is(n, -0)) n = 0;
        if (!matchCondition({ seats: n }, { seats: String(n) })) return false;
        return otherSpellings(n).every((other) => other === String(n) || !matchCondition({ seats: n }, { seats: other }));
      }),
    );
  });

  it('equality is the same whichever side holds the number (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -50, max: 50 }), fc.constantFrom('', '0', '+', ' ', '.0'), (n, decoration) => {
        const spelled = decoration === '+' || decoration === '0' || decoration === ' ' ? decoration + String(n) : String(n) + decoration;
        return matchCondition({ seats: n }, { seats: spelled }) === matchCondition({ seats: spelled }, { seats: String(n) });
      }),
    );
  });

  it('booleans match their words only', () => {
    expect(matchCondition({ admin: true }, { admin: 'true' })).toBe(true);
    expect(matchCondition({ admin: true }, { admin: 'TRUE' })).toBe(false);
    expect(matchCondition({ admin: true }, { admin: '1' })).toBe(false);
  });
});

describe('ordering is numeric or false', () => {
  it("gt: '10' does not match '9', and gt: 9 matches '10'", () => {
    expect(matchCondition({ seats: { gt: '10' } }, { seats: '9' })).toBe(false);
    expect(matchCondition({ seats: { lt: '10' } }, { seats: '9' })).toBe(true);
    expect(matchCondition({ seats: { gt: 9 } }, { seats: '10' })).toBe(true);
  });

  it('holds exactly as the numbers compare, for every spelling of both sides (property)', () => {
    const spelled = (n: number) => fc.constantFrom(n, String(n), `${n}.0`, `${n}e0`, n >= 0 ? `+${n}` : String(n));
    fc.assert(
      fc.property(
        fc.integer({ min: -1000, max: 1000 }).chain((a) => fc.tuple(fc.constant(a), spelled(a))),
        fc.integer({ min: -1000, max: 1000 }).chain((b) => fc.tuple(fc.constant(b), spelled(b))),
        ([a, actual], [b, operand]) => {
          const m = (op: string) => matchCondition({ seats: { [op]: operand } }, { seats: actual });
          return m('gt') === a > b && m('gte') === a >= b && m('lt') === a < b && m('lte') === a <= b;
        },
      ),
    );
  });

  it('is false on both sides of a word, a missing value or a padded number (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom('free', 'pro', '', ' 1', '1 ', '0x10', 'Infinity', 'NaN', '1,000'), fc.string().filter((s) => !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s))),
        fc.constantFrom('gt', 'gte', 'lt', 'lte'),
        fc.integer({ min: -5, max: 5 }),
        (word, op, n) => !matchCondition({ seats: { [op]: n } }, { seats: word }) && !matchCondition({ seats: { [op]: n } }, {}),
      ),
    );
    expect(matchCondition({ plan: { gte: 'free' } }, { plan: 'free' })).toBe(false);
    expect(matchCondition({ plan: { lt: 'pro' } }, { plan: 'free' })).toBe(false);
  });

  it('refuses a rules file whose ordering operand is not a number, with the fix', () => {
    let error: unknown;
    try {
      validateRules({ rules: [{ id: 'r', if: { plan: { gt: 'free' } }, then: { action: 'block' } }] });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TokenlayRulesError);
    expect((error as TokenlayRulesError).problems).toEqual([
      'rules[0].if.plan.gt: expected a number or a numeric string (gt gte lt lte compare numbers), got "free"',
    ]);
    expect(() => validateRules({ rules: [{ id: 'r', if: { seats: { gt: '10' } }, then: { action: 'block' } }] })).not.toThrow();
  });
});
