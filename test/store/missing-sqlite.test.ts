import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
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

const hasNodeSqlite = (() => {
  try {
    createRequire(import.meta.url)('node:sqlite');
    return true;
  } catch {
    return false;
  }
})();

async function openStore(spec: string, cwd: string, driver = ''): Promise<{ ok?: boolean; warnings?: string[]; error?: string }> {
  const { stdout } = await run(
    process.execPath,
    ['--require', join(fixtures, 'without-better-sqlite3.cjs'), '--import', tsx, join(fixtures, 'open-store.ts'), spec],
    { cwd, env: { ...process.env, TOKENLAY_STORE: '', TOKENLAY_SQLITE_DRIVER: driver } },
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

  it('refuses an explicit sqlite: store on better-sqlite3 with the install command', async () => {
    // On Node 20 better-sqlite3 is the only driver; on 22.13+ it is picked by TOKENLAY_SQLITE_DRIVER.
    const result = await openStore('sqlite:./usage.db', tmpdir(), hasNodeSqlite ? 'better-sqlite3' : '');
    expect(result.error).toMatch(/SQLite store needs the better-sqlite3 package.*Run: npm install better-sqlite3@12/);
  });

  it(`opens sqlite: on node:sqlite with nothing installed and no warning where Node has it (22.13+), else says so (Node ${process.versions.node})`, async () => {
    if (!hasNodeSqlite) {
      const result = await openStore('sqlite:./usage.db', tmpdir(), 'node:sqlite');
      expect(result.error).toMatch(/TOKENLAY_SQLITE_DRIVER is "node:sqlite", but Node \d+\.\d+\.\d+ has no node:sqlite; use Node 22\.13 or later/);
      return;
    }
    const cwd = mkdtempSync(join(tmpdir(), 'tokenlay-nodesqlite-'));
    try {
      expect(await openStore('sqlite:./usage.db', cwd)).toEqual({ ok: true, warnings: [] });
      expect(readdirSync(cwd)).toContain('usage.db');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('refuses a TOKENLAY_SQLITE_DRIVER that names no driver, with the accepted values', async () => {
    const result = await openStore('sqlite:./usage.db', tmpdir(), 'sqlite3');
    expect(result.error).toBe('tokenlay: TOKENLAY_SQLITE_DRIVER "sqlite3" is not a SQLite driver; use "node:sqlite" or "better-sqlite3", or unset it.');
  });
});
