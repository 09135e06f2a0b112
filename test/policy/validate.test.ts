import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules, TokenlayRulesError, validateRules } from '../../src/policy/index.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenlayRulesError);
    return (err as TokenlayRulesError).problems;
  }
  throw new Error('expected the rules to be refused');
}

const tmp = mkdtempSync(join(tmpdir(), 'tokenlay-rules-'));

describe('validateRules', () => {
  it('accepts the @tokenlay/rules README example and fills in defaults', () => {
    const doc = validateRules({
      version: '0.1',
      rules: [
        { id: 'free-tier', if: { tier: 'free' }, then: { model: 'gpt-3.5-turbo', limits: [{ type: 'requests', max: 100, window: 'day', per: 'user' }] }, priority: 1 },
        { if: { tier: 'pro' }, then: { model: 'gpt-4', limits: [{ type: 'cost', max: 50, window: 'month', per: 'user' }], on_limit_exceeded: { action: 'downgrade', downgrade_to: 'gpt-3.5-turbo' } }, priority: 2 },
        { if: {}, then: { action: 'queue', limits: [{ type: 'concurrent', max: 2, per: ['org', 'tier'] }], on_limit_exceeded: { action: 'queue' } } },
      ],
    });
    expect(doc.rules.map((r) => r.id)).toEqual(['free-tier', 'rule-1', 'rule-2']);
    expect(doc.rules[2]!.priority).toBe(0);
    expect(doc.rules[0]!.then.limits![0]!.per).toEqual(['user']);
    // per aliases fold to canonical names; a concurrency limit needs no window.
    expect(doc.rules[2]!.then.limits![0]).toMatchObject({ per: ['org', 'plan'], window: 'total' });
    expect(doc.rules[2]!.then.on_limit_exceeded!.delay_seconds).toBe(30);
  });

  it('lists every problem by path in one error, naming the source', () => {
    const bad = {
      version: '0.1',
      rules: [
        { id: 'a', if: { tier: 'free' }, then: { limits: [{ type: 'requests', max: 10, window: 'day', per: 'user' }] } },
        { id: 'a', if: { tier: { inn: ['x'] } }, then: { action: 'deny' } },
        {
          if: { 'usage.costs': { gte: 1 }, feature: ['a', 'b'] },
          then: {
            limits: [{ type: 'dollars', max: -1, window: 'week', per: 'user', warn_at: 1.5 }],
            on_limit_exceeded: { action: 'downgrade', http_status: 700 },
            fallbacks: 'gpt-4o',
            limit: [],
          },
        },
      ],
    };
    let error: TokenlayRulesError | undefined;
    try {
      validateRules(bad, 'tokenlay.rules.yaml');
    } catch (err) {
      error = err as TokenlayRulesError;
    }
    expect(error).toBeInstanceOf(TokenlayRulesError);
    expect(error!.problems).toEqual([
      'rules[1].id: duplicate id "a" (also rules[0]); ids key the usage counters, so each must be unique',
      'rules[1].if.tier.inn: unknown operator (did you mean "in"?); expected one of gt, gte, lt, lte, eq, neq, in, nin, contains, startsWith, endsWith',
      'rules[1].then.action: expected one of allow|block|warn|queue, got "deny"',
      'rules[2].if["usage.costs"]: unknown usage read-out "usage.costs"; expected usage.<metric> or usage.<window>.<metric> with metric one of requests|tokens|cost|concurrent and window one of minute|hour|day|month|year|total',
      'rules[2].if.feature: expected a value or an operator object; for a list of values write {in: [...]}',
      'rules[2].then.limit: unknown key (did you mean "limits"?); expected one of model, model_params, action, priority_modifier, limits, on_limit_exceeded, fallbacks, custom_fields',
      'rules[2].then.on_limit_exceeded.downgrade_to: required when action is downgrade: name the model to answer from',
      'rules[2].then.on_limit_exceeded.http_status: expected an integer HTTP status from 100 to 599, got 700',
      'rules[2].then.limits[0].type: expected one of requests|tokens|cost|concurrent|credits, got "dollars"',
      'rules[2].then.limits[0].max: expected a positive number, got -1',
      'rules[2].then.limits[0].window: expected one of minute|hour|day|month|year|total, or a rolling window last_<n>h (n from 1 to 168) or last_<n>d (n from 1 to 90), got "week"',
      'rules[2].then.limits[0].warn_at: expected a fraction between 0 and 1 (exclusive), e.g. 0.8, got 1.5',
      'rules[2].then.fallbacks: expected an array of model names, got "gpt-4o"',
    ]);
    expect(error!.message).toContain('tokenlay.rules.yaml');
    for (const problem of error!.problems) expect(error!.message).toContain(problem);
  });

  it('requires downgrade_to for a downgrade and a valid http_status', () => {
    expect(
      problemsOf(() =>
        validateRules({ rules: [{ if: {}, then: { limits: [{ type: 'cost', max: 1, window: 'day', per: 'user' }], on_limit_exceeded: { action: 'downgrade', http_status: 99.5 } } }] }),
      ),
    ).toEqual([
      'rules[0].then.on_limit_exceeded.downgrade_to: required when action is downgrade: name the model to answer from',
      'rules[0].then.on_limit_exceeded.http_status: expected an integer HTTP status from 100 to 599, got 99.5',
    ]);
  });

  it('checks per, tracking_key, integer maxima and fallbacks entries', () => {
    expect(
      problemsOf(() =>
        validateRules({
          rules: [
            {
              if: {},
              then: {
                limits: [
                  { type: 'requests', max: 1.5, window: 'day', per: [] },
                  { type: 'cost', max: 1, window: 'day', per: ['user', 'org'], tracking_key: 'user_id' },
                ],
                fallbacks: ['gpt-4o', ''],
              },
            },
          ],
        }),
      ),
    ).toEqual([
      'rules[0].then.limits[0].max: expected a positive integer, got 1.5',
      'rules[0].then.limits[0].per: expected a field name (user, org, plan, project, feature, …) or a non-empty list of them, got an array',
      'rules[0].then.limits[1].tracking_key: only allowed when per names a single field',
      'rules[0].then.fallbacks[1]: expected a non-empty string, got ""',
    ]);
  });

  it('checks the top level: rules, prices, unknown_models, defaults', () => {
    expect(
      problemsOf(() =>
        validateRules({ rule: [], prices: { 'my-model': { input: 1, output: 'cheap' } }, unknown_models: 'ignore', defaults: { warn_at: 0 } }),
      ),
    ).toEqual([
      '(document).rule: unknown key (did you mean "rules"?); expected one of version, fields, rules, prices, unknown_models, defaults, metadata, plans',
      'defaults.warn_at: expected a fraction between 0 and 1 (exclusive), e.g. 0.8, got 0',
      'prices["my-model"].output: expected a price in USD per million tokens (a number >= 0), got "cheap"',
      'unknown_models: expected one of zero|refuse, got "ignore"',
      'rules: expected an array of rules, got nothing',
    ]);
  });

  it('applies defaults to rules that leave them out, and warn_at from on_limit_exceeded to its limits', () => {
    const doc = validateRules({
      defaults: { on_limit_exceeded: { action: 'block', http_status: 402 }, fallbacks: ['gpt-4o-mini'], warn_at: 0.9 },
      rules: [
        { id: 'own', if: {}, then: { limits: [{ type: 'cost', max: 5, window: 'day', per: 'user' }], on_limit_exceeded: { action: 'warn', warn_at: 0.5 }, fallbacks: [] } },
        { id: 'inherits', if: {}, then: { limits: [{ type: 'cost', max: 5, window: 'day', per: 'user' }, { type: 'tokens', max: 5, window: 'day', per: 'user', warn_at: 0.7 }] } },
      ],
    });
    expect(doc.rules[0]!.then).toMatchObject({ on_limit_exceeded: { action: 'warn' }, fallbacks: [], limits: [{ warn_at: 0.5 }] });
    expect(doc.rules[1]!.then).toMatchObject({ on_limit_exceeded: { action: 'block', http_status: 402 }, fallbacks: ['gpt-4o-mini'], limits: [{ warn_at: 0.9 }, { warn_at: 0.7 }] });
  });

  it('does not alter the object it was given', () => {
    const input = { rules: [{ if: { tier: 'free' }, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'tier' }] } }] };
    const copy = structuredClone(input);
    validateRules(input);
    expect(input).toEqual(copy);
  });
});

describe('loadRules', () => {
  it('reads YAML and JSON files', () => {
    const yamlPath = join(tmp, 'rules.yaml');
    writeFileSync(yamlPath, 'version: 0.1\nrules:\n  - id: free\n    if: { tier: free }\n    then:\n      limits:\n        - { type: requests, max: 100, window: day, per: user }\n');
    const jsonPath = join(tmp, 'rules.json');
    writeFileSync(jsonPath, JSON.stringify({ version: '0.1', rules: [{ id: 'all', if: {}, then: { model: 'gpt-4o-mini' } }] }));
    expect(loadRules(yamlPath).rules[0]).toMatchObject({ id: 'free', if: { tier: 'free' } });
    expect(loadRules(yamlPath).version).toBe('0.1');
    expect(loadRules(jsonPath).rules[0]!.then.model).toBe('gpt-4o-mini');
  });

  it('names the file and the line of a YAML syntax error', () => {
    const path = join(tmp, 'broken.yml');
    writeFileSync(path, 'version: 0.1\nrules:\n  - id: a\n    if: {tier: free\n    then: {}\n');
    expect(() => loadRules(path)).toThrow(/broken\.yml/);
    expect(problemsOf(() => loadRules(path))[0]).toMatch(/^line 5, column \d+: not valid YAML: /);
  });

  it('names the file for schema problems, unreadable paths and bad JSON', () => {
    const path = join(tmp, 'bad.json');
    writeFileSync(path, JSON.stringify({ rules: [{ if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'week', per: 'user' }] } }] }));
    expect(() => loadRules(path)).toThrow(/bad\.json[\s\S]*rules\[0\]\.then\.limits\[0\]\.window: expected one of minute\|hour\|day\|month\|year\|total, or a rolling window last_<n>h \(n from 1 to 168\) or last_<n>d \(n from 1 to 90\), got "week"/);
    expect(() => loadRules(join(tmp, 'missing.yaml'))).toThrow(/missing\.yaml[\s\S]*ENOENT/);
    writeFileSync(join(tmp, 'trailing.json'), '{"rules": [],}');
    expect(() => loadRules(join(tmp, 'trailing.json'))).toThrow(/trailing\.json[\s\S]*not valid JSON/);
    expect(() => loadRules(join(tmp, 'rules.toml'))).toThrow(/expected \.json, \.yaml or \.yml/);
  });
});
