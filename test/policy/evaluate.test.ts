import { describe, expect, it } from 'vitest';
import { evaluateRules, usageReadouts, validateRules } from '../../src/policy/index.js';

const now = Date.parse('2026-05-17T10:30:00Z');

describe('evaluateRules', () => {
  const doc = validateRules({
    version: '0.1',
    rules: [
      { id: 'free', if: { tier: 'free' }, then: { model: 'gpt-3.5-turbo', model_params: { max_tokens: 256 }, limits: [{ type: 'requests', max: 100, window: 'day', per: 'user' }] }, priority: 1 },
      { id: 'free-vip', if: { tier: 'free', vip: true }, then: { model: 'gpt-4' }, priority: 10 },
      { id: 'pro-a', if: { tier: 'pro' }, then: { fallbacks: ['gpt-4o-mini'] } },
      { id: 'pro-b', if: { tier: 'pro' }, then: { model: 'never' } },
      { id: 'team', if: { org: 'acme' }, then: { limits: [{ type: 'cost', max: 10, window: 'month', per: ['org', 'user'] }, { type: 'cost', max: 5, window: 'month', per: 'project', tracking_key: 'project_id' }, { type: 'concurrent', max: 2, per: 'org' }] } },
    ],
  });

  it('runs higher priority first, so VIP free users get GPT-4', () => {
    const d = evaluateRules(doc, { fields: { plan: 'free', vip: 'true', user: 'u1' }, endpoint: '/v1/chat/completions' }, now);
    expect(d.rule?.id).toBe('free-vip');
    expect(d.model).toBe('gpt-4');
  });

  it('keeps file order among equal priorities: the first match applies', () => {
    const d = evaluateRules(doc, { fields: { plan: 'pro' }, model: 'gpt-4o', endpoint: '/v1/chat/completions' }, now);
    expect(d.rule?.id).toBe('pro-a');
    expect(d).toMatchObject({ model: 'gpt-4o', modelChanged: false, fallbacks: ['gpt-4o-mini'], limits: [] });
  });

  it("keeps the call's own model, and gives a call without one the rule's model", () => {
    const routed = evaluateRules(doc, { fields: { plan: 'free', user: 'u1' }, model: 'gpt-4o', endpoint: '/v1/chat/completions' }, now);
    expect(routed).toMatchObject({ model: 'gpt-4o', modelChanged: false, params: { max_tokens: 256 } });
    const none = evaluateRules(doc, { fields: { plan: 'free', user: 'u1' }, endpoint: '/v1/chat/completions' }, now);
    expect(none.model).toBe('gpt-3.5-turbo');
  });

  it('allows, unlimited, a call that no rule matches', () => {
    const d = evaluateRules(doc, { fields: { plan: 'enterprise' }, model: 'gpt-4o', endpoint: '/v1/embeddings' }, now);
    expect(d).toMatchObject({ rule: null, action: 'allow', model: 'gpt-4o', limits: [] });
  });

  it('resolves limits to counters keyed by rule, type, window and per values, in the current UTC window', () => {
    const d = evaluateRules(doc, { fields: { plan: 'free', user: 'alice' }, model: 'x', endpoint: '/v1/chat/completions' }, now);
    expect(d.limits).toEqual([
      expect.objectContaining({ key: 'free|requests|day|user=alice', scope: 'user=alice', bucket: Date.parse('2026-05-17T00:00:00Z'), resetsAt: Date.parse('2026-05-18T00:00:00Z') }),
    ]);
  });

  it('counts a call without the per field under (none), and reads tracking_key through aliases', () => {
    const d = evaluateRules(doc, { fields: { org: 'acme', project: 'p|1' }, model: 'x', endpoint: '/v1/chat/completions' }, now);
    expect(d.limits.map((l) => [l.key, l.scope])).toEqual([
      ['team|cost|month|org=acme,user=(none)', 'org=acme,user=(none)'],
      ['team|cost|month|project=p%7C1', 'project=p|1'],
      ['team|concurrent|total|org=acme', 'org=acme'],
    ]);
    expect(d.limits[2]).toMatchObject({ bucket: 0, resetsAt: null });
  });

  it('keeps a user literally named "(none)" apart from anonymous calls', () => {
    const named = evaluateRules(doc, { fields: { plan: 'free', user: '(none)' }, endpoint: '/v1/chat/completions' }, now);
    const anonymous = evaluateRules(doc, { fields: { plan: 'free' }, endpoint: '/v1/chat/completions' }, now);
    expect(named.limits[0]!.key).not.toBe(anonymous.limits[0]!.key);
  });

  it('matches usage read-outs and endpoint conditions', () => {
    const byUsage = validateRules({
      rules: [
        { id: 'heavy', if: { 'usage.cost': { gte: 40 }, endpoint: { endsWith: '/chat/completions' } }, then: { model: 'gpt-4o-mini' } },
        { id: 'daily', if: { 'usage.day.requests': { gt: 3 } }, then: { action: 'block' } },
      ],
    });
    const facts = (usage: Record<string, unknown>) => ({ fields: { user: 'u' }, model: 'gpt-4o', endpoint: '/v1/chat/completions', usage });
    expect(evaluateRules(byUsage, facts({ cost: 40, day: { requests: 0 } }), now).rule?.id).toBe('heavy');
    expect(evaluateRules(byUsage, facts({ cost: 39.99, day: { requests: 4 } }), now).rule?.id).toBe('daily');
    expect(evaluateRules(byUsage, facts({ cost: 39.99, day: { requests: 3 } }), now).rule).toBeNull();
    expect(usageReadouts(byUsage)).toEqual([
      { window: 'month', metric: 'cost' },
      { window: 'day', metric: 'requests' },
    ]);
  });
});
