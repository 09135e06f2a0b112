import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { openDatabase } from '../../src/store/sqlite-driver.js';
import { migrations, SCHEMA_VERSION } from '../../src/store/sqlite-schema.js';
import { check, row, storeContract } from './contract.js';
import { useTempDirs } from './temp-dir.js';

// The file is read through the same driver the store picked: better-sqlite3 on Node 20, node:sqlite on 22.13+.
const openRaw = (path: string) => openDatabase(path, 1000);
const run = promisify(execFile);
const tempDir = useTempDirs();
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const LEASE = { now: T0, leaseMs: 30_000 };

storeContract('SQLite file', () => createSqliteStore({ path: join(tempDir(), 'tokenlay.db') }));
storeContract('SQLite :memory:', () => createSqliteStore({ path: ':memory:' }));

function ledgerCount(path: string): number {
  const db = openRaw(path);
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM ledger').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function runFixture(name: string, args: string[]) {
  return run(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', name), ...args]);
}

describe('SQLite store', () => {
  it('creates the parent directories of its file', async () => {
    const path = join(tempDir(), 'a', 'b', 'tokenlay.db');
    const store = createSqliteStore({ path });
    await store.close();
    expect(existsSync(path)).toBe(true);
  });

  it('keeps counters, live reservations and the ledger across close and reopen', async () => {
    const path = join(tempDir(), 'tokenlay.db');
    const first = createSqliteStore({ path });
    const settled = await first.reserve([check({ key: 'tok', metric: 'tokens', amount: 10, max: 1000 })], LEASE);
    const inFlight = await first.reserve([check({ key: 'con', metric: 'concurrent', max: 1 })], LEASE);
    if (!settled.ok || !inFlight.ok) throw new Error('expected admission');
    await first.settle(settled.id, { requests: 1, tokens: 77, cost: 0 });
    first.record(row({ fields: { user: 'restart' } }));
    await first.close();

    const second = createSqliteStore({ path });
    expect(await second.read('tok', 'tokens', T0, T0)).toEqual({ used: 77, reserved: 0 });
    expect(await second.read('con', 'concurrent', T0, T0)).toEqual({ used: 0, reserved: 1 });
    expect((await second.reserve([check({ key: 'con', metric: 'concurrent', max: 1 })], LEASE)).ok).toBe(false);
    // The reservation made before the restart can still be settled by its id.
    await second.settle(inFlight.id, { requests: 1, tokens: 0, cost: 0 });
    expect(await second.read('con', 'concurrent', T0, T0)).toEqual({ used: 0, reserved: 0 });
    expect((await second.ledger()).map((r) => r.fields.user)).toEqual(['restart']);
    await second.close();
  });

  it('migrates a version 1 database to the current schema and keeps its counters', async () => {
    const path = join(tempDir(), 'v1.db');
    const old = openRaw(path);
    old.exec(migrations[0]);
    old.pragma('user_version = 1');
    old.prepare('INSERT INTO counters (key, metric, bucket, used, expires_at) VALUES (?, ?, ?, ?, ?)').run('tok', 'tokens', 0, 1234, null);
    old.close();

    const store = createSqliteStore({ path });
    expect(await store.read('tok', 'tokens', 0, T0)).toEqual({ used: 1234, reserved: 0 });
    store.record(row());
    expect(await store.ledger()).toHaveLength(1);
    await store.close();

    const after = openRaw(path);
    expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    after.close();
    expect(SCHEMA_VERSION).toBeGreaterThan(1);
  });

  it('refuses a database written by a newer tokenlay, naming both versions', () => {
    const path = join(tempDir(), 'future.db');
    const future = openRaw(path);
    future.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    future.close();
    expect(() => createSqliteStore({ path })).toThrow(`schema version ${SCHEMA_VERSION + 1}, newer than this tokenlay understands (${SCHEMA_VERSION})`);
  });

  it('holds ledger rows in memory until a batch fills, then writes them in one go', async () => {
    const path = join(tempDir(), 'tokenlay.db');
    const store = createSqliteStore({ path, batchSize: 5, flushIntervalMs: 60_000 });
    for (let i = 0; i < 4; i++) store.record(row({ time: i }));
    expect(ledgerCount(path)).toBe(0);
    store.record(row({ time: 4 }));
    expect(ledgerCount(path)).toBe(5);
    store.record(row({ time: 5 }));
    expect(ledgerCount(path)).toBe(5);
    await store.flush();
    expect(ledgerCount(path)).toBe(6);
    await store.close();
  });

  it('writes queued ledger rows on its interval timer', async () => {
    const path = join(tempDir(), 'tokenlay.db');
    const store = createSqliteStore({ path, batchSize: 1000, flushIntervalMs: 20 });
    store.record(row());
    expect(ledgerCount(path)).toBe(0);
    await expect.poll(() => ledgerCount(path), { timeout: 2000, interval: 10 }).toBe(1);
    await store.close();
  });

  it('loses no ledger rows at close', async () => {
    const path = join(tempDir(), 'tokenlay.db');
    const store = createSqliteStore({ path, batchSize: 1000, flushIntervalMs: 60_000 });
    for (let i = 0; i < 250; i++) store.record(row({ time: i }));
    await store.close();
    expect(ledgerCount(path)).toBe(250);
  });

  it('writes queued ledger rows when the process exits without close()', async () => {
    const path = join(tempDir(), 'tokenlay.db');
    await runFixture('record-and-exit.ts', [path, '37']);
    expect(ledgerCount(path)).toBe(37);
  });

  it('admits exactly max calls across several processes sharing one file', async () => {
    const path = join(tempDir(), 'shared.db');
    await createSqliteStore({ path }).close(); // create the schema once so the workers race only on reserve
    const startAt = String(Date.now() + 2500);
    const outputs = await Promise.all([1, 2, 3, 4].map(() => runFixture('reserve-worker.ts', [path, '150', '300', startAt])));
    const perWorker = outputs.map(({ stdout }) => Number(stdout));
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(300);
    // Every worker got some: the race was real, not four runs one after the other.
    expect(Math.min(...perWorker)).toBeGreaterThan(0);
  });
});
