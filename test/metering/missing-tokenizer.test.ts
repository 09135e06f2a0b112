import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// gpt-tokenizer is an optional peer: remote mode never loads it, and embedded mode without it
// estimates by characters instead of failing a call.
const run = promisify(execFile);
const fixtures = join(import.meta.dirname, 'fixtures');

async function count(text: string, hide: boolean): Promise<{ counts: number[]; warnings: string[] }> {
  const preload = hide ? ['--require', join(fixtures, 'without-gpt-tokenizer.cjs')] : [];
  const { stdout } = await run(process.execPath, [...preload, '--import', 'tsx', join(fixtures, 'count-tokens.ts'), text]);
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('without gpt-tokenizer installed', () => {
  it('estimates 4 characters a token and warns once, naming the package to install', async () => {
    const text = 'The quick brown fox jumps over the lazy dog, twice.'; // 51 characters
    expect(await count(text, true)).toEqual({
      counts: [13, 13],
      warnings: [
        'tokenlay: gpt-tokenizer is not installed, so token estimates (for calls whose answer carries no usage, and for reservations) count 4 characters a token. Run: npm install gpt-tokenizer@4',
      ],
    });
  });

  it('counts with the real encoding, and warns of nothing, when it is installed', async () => {
    const result = await count('The quick brown fox jumps over the lazy dog, twice.', false);
    expect(result.warnings).toEqual([]);
    expect(result.counts[0]).toBe(12);
  });
});
