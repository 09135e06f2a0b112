import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

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

  it('loads better-sqlite3 once a SQLite store is opened', async () => {
    expect(await heavyModulesAfter('use-sqlite', 'src/store/index.ts')).toEqual(['better-sqlite3']);
  });
});
