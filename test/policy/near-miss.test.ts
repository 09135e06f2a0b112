import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadRules, TokenlayRulesError, validateRules } from '../../src/policy/index.js';
import { createEngine } from '../../src/engine/index.js';
import { TokenlayOpenAI } from '../../src/index.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenlayRulesError);
    return (err as TokenlayRulesError).problems;
  }
  throw new Error('expected the rules to be refused');
}
const limit = (extra: object) => ({ type: 'requests', max: 10, window: 'day', ...extra });

describe('near-miss field names', () => {
  it('refuses per: usr with "did you mean `user`?" instead of counting everyone under usr=(none)', () => {
    expect(problemsOf(() => validateRules({ rules: [{ id: 'r', if: {}, then: { limits: [limit({ per: 'usr' })] } }] }))).toEqual([
      "rules[0].then.limits[0].per: unknown field \"usr\" (did you mean `user`?). A field of your own must be declared: fields: [usr] at the top of the rules, or customFields: ['usr'] in the client.",
    ]);
  });

  it('refuses if: { plann: free }, which would never match', () => {
    const problems = problemsOf(() => validateRules({ rules: [{ id: 'r', if: { plann: 'free' }, then: { action: 'block' } }] }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^rules\[0\]\.if\.plann: unknown field "plann" \(did you mean `plan`\?\)/);
  });

  it('checks tracking_key, per lists, nested conditions and aliases alike', () => {
    const problems = problemsOf(() =>
      validateRules({
        rules: [
          { id: 'a', if: { or: [{ tiers: 'pro' }, { not: { orgg: 'x' } }] }, then: { limits: [limit({ per: ['org', 'projet'] }), limit({ per: 'user', tracking_key: 'user_di' })] } },
        ],
      }),
    );
    expect(problems.map((p) => p.split(':')[0])).toEqual(['rules[0].if.or[0].tiers', 'rules[0].if.or[1].not.orgg', 'rules[0].then.limits[0].per[1]', 'rules[0].then.limits[1].tracking_key']);
    expect(problems[0]).toContain('did you mean `tier`?');
    expect(problems[2]).toContain('did you mean `project`?');
    expect(problems[3]).toContain('did you mean `user_id`?');
  });

  it('accepts a declared custom field, from fields: or from customFields', () => {
    const rules = { rules: [{ id: 'r', if: { usr: 'x' }, then: { limits: [limit({ per: 'usr' })] } }] };
    expect(validateRules({ fields: ['usr'], ...rules }).fields).toEqual(['usr']);
    expect(() => validateRules(rules, 'rules object', { customFields: ['usr'] })).not.toThrow();
    expect(() => loadRules(rules, { customFields: ['USR'] })).not.toThrow();
    expect(() => createEngine({ rules, customFields: ['usr'] })).not.toThrow();
    expect(() => createEngine({ rules })).toThrow(TokenlayRulesError);
    expect(() => new TokenlayOpenAI({ providerApiKey: 'sk-x', policy: rules, customFields: ['usr'] })).not.toThrow();
    expect(() => new TokenlayOpenAI({ providerApiKey: 'sk-x', policy: rules })).toThrow(TokenlayRulesError);
  });

  it('catches a typo of a declared field too', () => {
    expect(problemsOf(() => validateRules({ fields: ['region'], rules: [{ id: 'r', if: { regoin: 'eu' }, then: {} }] }))[0]).toContain(
      'did you mean `region`?',
    );
  });

  it('still loads files without fields:, and custom fields far from any known name', () => {
    const doc = validateRules({ rules: [{ id: 'r', if: { team: 'red', vip: true }, then: { limits: [limit({ per: ['team', 'seat_group'] })] } }] });
    expect(doc.rules).toHaveLength(1);
    expect(doc.fields).toBeUndefined();
  });

  it('refuses a malformed fields: list', () => {
    expect(problemsOf(() => validateRules({ fields: 'team', rules: [] }))).toEqual(['fields: expected a list of your own field names, e.g. [team, region], got "team"']);
    expect(problemsOf(() => validateRules({ fields: ['ok', 'not ok'], rules: [] }))).toEqual(['fields[1]: expected a field name of [a-z0-9_-], at most 64 characters, got "not ok"']);
  });

  it('reads fields: from a YAML file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-fields-'));
    const path = join(dir, 'rules.yaml');
    writeFileSync(path, 'version: "0.1"\nfields: [usr]\nrules:\n  - id: r\n    if: {}\n    then:\n      limits: [{ type: requests, max: 5, window: day, per: usr }]\n');
    expect(loadRules(path).rules[0]!.then.limits![0]!.per).toEqual(['usr']);
  });

  it('refuses every name one edit from a built-in field, unless declared (property)', () => {
    const builtIn = ['user', 'org', 'plan', 'project', 'feature', 'tier', 'model'];
    const alphabet = 'abcdefghijklmnopqrstuvwxyz_';
    const oneEdit = fc
      .tuple(fc.constantFrom(...builtIn), fc.nat(), fc.constantFrom(...alphabet), fc.constantFrom('insert', 'delete', 'replace'))
      .map(([name, at, c, how]) => {
        const i = at % (name.length + (how === 'insert' ? 1 : 0));
        if (how === 'insert') return name.slice(0, i) + c + name.slice(i);
        if (how === 'delete') return name.slice(0, i) + name.slice(i + 1);
        return name.slice(0, i) + c + name.slice(i + 1);
      });
    const known = new Set(['user', 'org', 'plan', 'project', 'feature', 'tier', 'model', 'endpoint', 'usage', 'userid', 'user_id', 'user-id', 'orgid', 'org_id', 'organization', 'organization_id', 'projectid', 'project_id']);
    fc.assert(
      fc.property(oneEdit, (name) => {
        fc.pre(name.length > 0 && !known.has(name) && !['and', 'or', 'not'].includes(name));
        const rules = { rules: [{ id: 'r', if: { [name]: 'x' }, then: {} }] };
        let refused = false;
        try {
          validateRules(rules);
        } catch (err) {
          refused = err instanceof TokenlayRulesError && /did you mean `/.test(err.problems[0]!);
        }
        return refused && validateRules({ fields: [name], ...rules }).rules.length === 1;
      }),
    );
  });
});
