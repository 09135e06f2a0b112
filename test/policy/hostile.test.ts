import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules, TokenlayRulesError, validateRules } from '../../src/policy/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tokenlay-hostile-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function refusal(fn: () => unknown): TokenlayRulesError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenlayRulesError);
    return err as TokenlayRulesError;
  }
  throw new Error('expected the rules to be refused');
}

const nestedNot = (depth: number) => {
  let c: object = { plan: 'free' };
  for (let i = 0; i < depth; i++) c = { not: c };
  return c;
};

describe('hostile rules files', () => {
  it('refuses a YAML alias bomb as TokenlayRulesError, not a raw ReferenceError', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [prev, name] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g']]) levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    const path = file('bomb.yaml', `${levels.join('\n')}\nrules: [*g]\n`);
    const error = refusal(() => loadRules(path));
    expect(error.problems).toEqual(['(file): YAML aliases expand past 100 copies (an alias bomb?). Write the shared part out, or use fewer anchors and aliases.']);
    expect(error.source).toBe(path);
  });

  it('refuses nesting deeper than 64 levels, naming where, from an object, YAML and JSON alike', () => {
    const deep = { rules: [{ id: 'r', if: nestedNot(70), then: {} }] };
    const error = refusal(() => validateRules(deep));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^rules\[0\]\.if\.not\.not\.not.*: nested deeper than 64 levels\. Flatten it: list conditions under one and\/or instead of nesting them\.$/);
    for (const depth of [1900, 10_000]) {
      expect(refusal(() => validateRules({ rules: [{ id: 'r', if: nestedNot(depth), then: {} }] })).problems[0]).toContain('nested deeper than 64 levels');
      const yaml = file(`deep-${depth}.yaml`, `rules:\n  - id: r\n    if: ${'{ not: '.repeat(depth)}{}${' }'.repeat(depth)}\n    then: {}\n`);
      expect(refusal(() => loadRules(yaml)).problems[0]).toContain('nested deeper than 64 levels');
      const json = file(`deep-${depth}.json`, `{"rules":[{"id":"r","if":{"and":[${'['.repeat(depth)}${']'.repeat(depth)}]},"then":{}}]}`);
      expect(refusal(() => loadRules(json)).problems[0]).toContain('nested deeper than 64 levels');
    }
  });

  it('accepts nesting up to the limit', () => {
    expect(() => validateRules({ rules: [{ id: 'r', if: nestedNot(59), then: {} }] })).not.toThrow();
  });

  it('refuses more than 10,000 rules', () => {
    const rules = Array.from({ length: 10_001 }, (_, i) => ({ id: `r${i}`, if: { user: `u${i}` }, then: {} }));
    expect(refusal(() => validateRules({ rules })).problems).toEqual([
      'rules: 10001 rules; at most 10000 are allowed. Merge rules that share a condition, or key limits with per instead of one rule per user.',
    ]);
    expect(validateRules({ rules: rules.slice(0, 10_000) }).rules).toHaveLength(10_000);
  });

  it('refuses a file over 1 MiB before reading it', () => {
    const path = file('big.yaml', `rules: []\n# ${'x'.repeat(1024 * 1024)}\n`);
    expect(refusal(() => loadRules(path)).problems[0]).toMatch(/^\(file\): 104\d{4} bytes; a rules file has at most 1048576 bytes \(1 MiB\)\./);
  });
});
