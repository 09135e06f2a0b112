import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// better-sqlite3 is an optional peer: an app that has not installed it runs on the memory default,
// and gets the install command when it asks for SQLite.
const run = promisify(execFile);
const fixtures = join(import.meta.dirname, 'fixtures');
// By URL: the child runs in a folder with no node_modules of its own.
const tsx = pathToFileURL(join(import.meta.dirname, '..', '..', 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

async function openStore(spec: string, cwd: string): Promise<{ ok?: boolean; warnings?: string[]; error?: string }> {
  const { stdout } = await run(
    process.execPath,
    ['--require', join(fixtures, 'without-better-sqlite3.cjs'), '--import', tsx, join(fixtures, 'open-store.ts'), spec],
    { cwd, env: { ...process.env, TOKENLAY_STORE: '' } },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('without better-sqlite3 installed', () => {
  it('runs the default store, which is memory, and writes no file', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tokenlay-nosqlite-'));
    try {
      const result = await openStore('', cwd);
      expect(result).toEqual({ ok: true, warnings: [] });
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('refuses an explicit sqlite: store with the install command', async () => {
    const result = await openStore('sqlite:./usage.db', tmpdir());
    expect(result.error).toMatch(/SQLite store needs the better-sqlite3 package.*Run: npm install better-sqlite3@12/);
  });
});
