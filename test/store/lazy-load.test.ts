import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const hasNodeSqlite = (() => {
  try {
    createRequire(import.meta.url)('node:sqlite');
    return true;
  } catch {
    return false;
  }
})();

async function heavyModulesAfter(use: string, ...modules: string[]): Promise<string[]> {
  const { stdout } = await run(process.execPath, [
    '--import', 'tsx', join(import.meta.dirname, 'fixtures', 'loaded-modules.ts'), use, ...modules.map((m) => join(root, m)),
  ]);
  return JSON.parse(stdout) as string[];
}

describe('loading', () => {
  it('does not load better-sqlite3, the tokenizer or the price table on import', async () => {
    expect(await heavyModulesAfter('import-only', 'src/store/index.ts', 'src/metering/index.ts')).toEqual([]);
  });

  it('loads better-sqlite3 once a SQLite store is opened, and only where the runtime has no node:sqlite', async () => {
    expect(await heavyModulesAfter('use-sqlite', 'src/store/index.ts')).toEqual(hasNodeSqlite ? [] : ['better-sqlite3']);
  });
});
