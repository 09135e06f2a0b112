import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { isBusy, whenUnlocked } from '../../src/store/sqlite-busy.js';
import { openDatabase, sqliteDriverName } from '../../src/store/sqlite-driver.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it(`knows a locked file when the driver (${sqliteDriverName()}) says so, and waits for it instead of failing`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-busy-'));
  dirs.push(dir);
  const path = join(dir, 'busy.db');
  const holder = openDatabase(path, 10);
  const other = openDatabase(path, 10);
  try {
    holder.exec('CREATE TABLE t (x INTEGER)');
    holder.exec('BEGIN IMMEDIATE');
    // node:sqlite reports the lock as ERR_SQLITE_ERROR with errcode 5; better-sqlite3 as SQLITE_BUSY.
    let refused: unknown;
    try {
      other.exec('BEGIN IMMEDIATE');
    } catch (error) {
      refused = error;
    }
    expect(refused, 'the second connection should have been refused while the first holds the lock').toBeDefined();
    expect(isBusy(refused)).toBe(true);
    // So a write waits for the lock (asynchronously) and goes through once it is released.
    // Stays on the wall clock: the lock is held a while so the write must wait on SQLite's busy timeout, which is real time.
    setTimeout(() => holder.exec('COMMIT'), 100);
    await whenUnlocked(() => other.exec('BEGIN IMMEDIATE; INSERT INTO t VALUES (1); COMMIT'), 5000);
    expect(other.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 1 });
  } finally {
    other.close();
    holder.close();
  }
});

it('does not take other SQLite errors for a lock', () => {
  expect(isBusy(Object.assign(new Error('no such table: t'), { code: 'ERR_SQLITE_ERROR', errcode: 1 }))).toBe(false);
  expect(isBusy(Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT' }))).toBe(false);
  expect(isBusy(undefined)).toBe(false);
});
