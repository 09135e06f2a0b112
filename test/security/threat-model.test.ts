/**
 * docs/security.md is the threat model, and test/security/ the list of what it promises: the page
 * names every party and what is stored and how to report a problem, and each test file of this
 * folder is on the page (and each file the page names exists), so neither drifts from the other.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const PAGE = readFileSync(join(ROOT, 'docs', 'security.md'), 'utf8');

describe('docs/security.md', () => {
  it('says who is trusted (the app, the caller, the provider, the operator), what the gateway stores, and how to report a problem', () => {
    for (const party of ['the operator', 'the app', 'the caller', 'the provider']) expect(PAGE).toContain(`**${party}**`);
    for (const heading of ['## The parties', '## What the gateway guarantees', '## What it stores', '## Reporting a problem']) expect(PAGE).toContain(heading);
  });

  it('names every test file of test/security/, and only files that exist', () => {
    const files = readdirSync(import.meta.dirname).filter((f) => f.endsWith('.test.ts'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const file of files) expect(PAGE, file).toContain(`test/security/${file}`);
    for (const [, named] of PAGE.matchAll(/\]\(\.\.\/(test\/[^)]+)\)/g)) expect(existsSync(join(ROOT, named!)), named).toBe(true);
  });
});
