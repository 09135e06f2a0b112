import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules, TokenlayRulesError } from '../../src/policy/index.js';
import { DEFAULTS_KEYS, DOCUMENT_KEYS, LIMIT_KEYS, ON_LIMIT_KEYS, OPERATORS, PRICE_KEYS, RULE_KEYS, THEN_KEYS } from '../../src/policy/schema.js';

const doc = readFileSync(new URL('../../docs/rules.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/```yaml( refused)?\n([\s\S]*?)```/g)].map((m) => ({ refused: m[1] !== undefined, text: m[2]! }));
const dir = mkdtempSync(join(tmpdir(), 'tokenlay-doc-'));

describe('docs/rules.md', () => {
  it('has examples, and loads every one that is not marked refused', () => {
    expect(blocks.filter((b) => !b.refused).length).toBeGreaterThanOrEqual(8);
    blocks.forEach((block, i) => {
      const path = join(dir, `example-${i}.yaml`);
      writeFileSync(path, block.text);
      if (block.refused) expect(() => loadRules(path), `example ${i}`).toThrow(TokenlayRulesError);
      else expect(() => loadRules(path), `example ${i}:\n${block.text}`).not.toThrow();
    });
  });

  it('documents every key of the rules file and every operator', () => {
    for (const key of [...DOCUMENT_KEYS, ...RULE_KEYS, ...THEN_KEYS, ...LIMIT_KEYS, ...ON_LIMIT_KEYS, ...DEFAULTS_KEYS, ...PRICE_KEYS, ...OPERATORS]) {
      expect(doc, key).toContain(`\`${key}\``);
    }
  });
});
