import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchCondition, type MatchContext } from '../../src/policy/index.js';
import type { Condition, Scalar } from '../../src/policy/index.js';

// Small value pools so that generated conditions and contexts often meet.
const scalar: fc.Arbitrary<Scalar> = fc.oneof(
  fc.constantFrom('free', 'pro', 'enterprise', '', '10', '9.5', 'true'),
  fc.integer({ min: -3, max: 12 }),
  fc.double({ min: -5, max: 15, noNaN: true }),
  fc.boolean(),
  fc.constant(null),
);
const path = fc.constantFrom('plan', 'user', 'feature', 'seats', 'usage.cost', 'usage.day.tokens');
const context: fc.Arbitrary<MatchContext> = fc
  .record({
    plan: fc.option(fc.constantFrom('free', 'pro', 'enterprise'), { nil: undefined }),
    user: fc.option(fc.constantFrom('alice', 'bob', '10'), { nil: undefined }),
    feature: fc.option(fc.constantFrom('chat', 'chat-summary', 'search'), { nil: undefined }),
    seats: fc.option(fc.constantFrom('9.5', '10', '3', 'many'), { nil: undefined }),
    usage: fc.record({ cost: fc.double({ min: 0, max: 12, noNaN: true }), day: fc.record({ tokens: fc.integer({ min: 0, max: 12 }) }) }),
  })
  .map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));

const comparable = fc.oneof(fc.integer({ min: -3, max: 12 }), fc.constantFrom('free', 'pro', '10', 'chat'));
const leaf: fc.Arbitrary<Condition> = fc.oneof(
  fc.tuple(path, scalar).map(([p, v]) => ({ [p]: v })),
  fc.tuple(path, fc.constantFrom('gt', 'gte', 'lt', 'lte'), comparable).map(([p, op, v]) => ({ [p]: { [op]: v } })),
  fc.tuple(path, fc.array(scalar, { maxLength: 3 })).map(([p, vs]) => ({ [p]: { in: vs } })),
  fc.tuple(path, fc.constantFrom('chat', 'pro', 'e', '1')).map(([p, v]) => ({ [p]: { contains: v } })),
);
const { condition } = fc.letrec<{ condition: Condition }>((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('condition'), { minLength: 1, maxLength: 3 }).map((and) => ({ and })),
    fc.array(tie('condition'), { minLength: 1, maxLength: 3 }).map((or) => ({ or })),
    tie('condition').map((not) => ({ not })),
  ),
}));

describe('matchCondition (properties)', () => {
  it('not inverts any condition', () => {
    fc.assert(fc.property(condition, context, (c, ctx) => matchCondition({ not: c }, ctx) === !matchCondition(c, ctx)));
  });

  it('and is the conjunction and or the disjunction of their parts', () => {
    fc.assert(
      fc.property(fc.array(condition, { minLength: 1, maxLength: 4 }), context, (cs, ctx) => {
        const each = cs.map((c) => matchCondition(c, ctx));
        return matchCondition({ and: cs }, ctx) === each.every(Boolean) && matchCondition({ or: cs }, ctx) === each.some(Boolean);
      }),
    );
  });

  it('the entries of one condition object are a conjunction', () => {
    fc.assert(
      fc.property(leaf, leaf, context, (a, b, ctx) => {
        fc.pre(Object.keys(a)[0] !== Object.keys(b)[0]);
        return matchCondition({ ...a, ...b }, ctx) === (matchCondition(a, ctx) && matchCondition(b, ctx));
      }),
    );
  });

  it('in holds exactly when some eq holds, and nin is its negation', () => {
    fc.assert(
      fc.property(path, fc.array(scalar, { maxLength: 4 }), context, (p, vs, ctx) => {
        const some = vs.some((v) => matchCondition({ [p]: { eq: v } }, ctx));
        return matchCondition({ [p]: { in: vs } }, ctx) === some && matchCondition({ [p]: { nin: vs } }, ctx) === !some;
      }),
    );
  });

  it('for numbers, gte is gt or eq and lte is lt or eq; words order as nothing', () => {
    fc.assert(
      fc.property(path, comparable, context, (p, v, ctx) => {
        const m = (op: string) => matchCondition({ [p]: { [op]: v } }, ctx);
        if (typeof v === 'string' && !/^\d+$/.test(v)) return !m('gt') && !m('gte') && !m('lt') && !m('lte');
        const numeric = m('gt') || m('lt') || m('gte');
        return m('gte') === (m('gt') || (numeric && m('eq'))) && m('lte') === (m('lt') || (numeric && m('eq')));
      }),
    );
  });

  it('a plain value means eq, and neq is its negation', () => {
    fc.assert(
      fc.property(path, scalar, context, (p, v, ctx) => {
        const eq = matchCondition({ [p]: { eq: v } }, ctx);
        return matchCondition({ [p]: v }, ctx) === eq && matchCondition({ [p]: { neq: v } }, ctx) === !eq;
      }),
    );
  });

  it('an alias names the same field as its canonical name', () => {
    const aliases: Array<[string, string]> = [
      ['tier', 'plan'],
      ['user_id', 'user'],
      ['userId', 'user'],
      ['organization', 'org'],
      ['project_id', 'project'],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...aliases), scalar, fc.constantFrom('free', 'pro', 'x', undefined), (pair, v, value) => {
        const [alias, canonical] = pair;
        const ctx: MatchContext = value === undefined ? {} : { [canonical]: value };
        return matchCondition({ [alias]: v }, ctx) === matchCondition({ [canonical]: v }, ctx);
      }),
    );
  });
});

describe('matchCondition (cases)', () => {
  const ctx: MatchContext = { plan: 'pro', user: 'alice', seats: '12', admin: 'true', feature: 'chat-summary', model: 'gpt-4o', usage: { cost: 40, day: { tokens: 900 } } };

  it('matches a call whose plan is pro with tier: pro', () => {
    expect(matchCondition({ tier: 'pro' }, ctx)).toBe(true);
    expect(matchCondition({ tier: 'free' }, ctx)).toBe(false);
  });

  it('compares string field values with numbers and booleans they spell', () => {
    expect(matchCondition({ seats: { gt: 10 } }, ctx)).toBe(true);
    expect(matchCondition({ seats: 12 }, ctx)).toBe(true);
    expect(matchCondition({ admin: true }, ctx)).toBe(true);
    expect(matchCondition({ seats: { gt: 'a' } }, ctx)).toBe(false); // "12" < "a" as strings
  });

  it('reads dotted paths and usage read-outs', () => {
    expect(matchCondition({ 'usage.cost': { gte: 40 } }, ctx)).toBe(true);
    expect(matchCondition({ 'usage.cost': { gt: 40 } }, ctx)).toBe(false);
    expect(matchCondition({ 'usage.day.tokens': { lt: 1000 } }, ctx)).toBe(true);
    expect(matchCondition({ 'usage.nothing.here': { lt: 1000 } }, ctx)).toBe(false);
  });

  it('uses string operators and treats null as missing', () => {
    expect(matchCondition({ feature: { startsWith: 'chat', endsWith: 'summary', contains: '-' } }, ctx)).toBe(true);
    expect(matchCondition({ feature: { startsWith: 'search' } }, ctx)).toBe(false);
    expect(matchCondition({ org: null }, ctx)).toBe(true);
    expect(matchCondition({ user: null }, ctx)).toBe(false);
    expect(matchCondition({ org: { gt: 0 } }, ctx)).toBe(false);
  });

  it('combines logical keys with path keys in one object', () => {
    expect(matchCondition({ plan: 'pro', or: [{ user: 'bob' }, { model: { startsWith: 'gpt-4' } }], not: { feature: 'search' } }, ctx)).toBe(true);
    expect(matchCondition({ plan: 'free', or: [{ user: 'alice' }] }, ctx)).toBe(false);
  });

  it('does not read inherited properties', () => {
    expect(matchCondition({ constructor: { neq: null } }, ctx)).toBe(false);
    expect(matchCondition({ 'usage.toString': { neq: null } }, ctx)).toBe(false);
  });
});
