import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as IORedis from 'ioredis';
import type * as Pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPostgresKeyStore } from '../../src/gateway/keys-postgres.js';
import { createPostgresLedger } from '../../src/store/postgres.js';
import { ddlLockName } from '../../src/store/postgres-schema.js';
import { createRedisStore } from '../../src/store/redis.js';
import { row } from './contract.js';
import { PrivatePostgres } from './private-postgres.js';
import { freePort, PrivateRedis } from './private-redis.js';
import { useTempDirs } from './temp-dir.js';

// Each kind of driver connection killed in the middle of a call, on private servers: an `error`
// event of a client, a pool or a connection is an outage the store rides out, never a crash (an
// unhandled 'error' event would fail this file), and nothing written is lost or doubled.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof Pg;
const { Redis } = require('ioredis') as typeof IORedis;
const tempDir = useTempDirs();

let postgres: PrivatePostgres;
let redis: PrivateRedis;
beforeAll(async () => {
  postgres = new PrivatePostgres();
  redis = new PrivateRedis(await freePort());
  await Promise.all([postgres.create(), redis.start()]);
}, 120_000);
afterAll(async () => {
  await redis?.stop();
  await postgres?.destroy();
}, 60_000);

async function admin(): Promise<Pg.Client> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  return client;
}

/**
 * Terminates the backends waiting on `locker`'s lock (the call held mid-flight), once one is there.
 * Asked from a connection of its own: inside the locker's transaction, pg_stat_activity is a
 * snapshot taken once.
 */
async function terminateWaiting(locker: Pg.Client): Promise<number> {
  const by = await admin();
  try {
    const [{ pid }] = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    return await vi.waitFor(
      async () => {
        const { rows } = await by.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, [pid]);
        if (rows.length === 0) throw new Error('no backend ever waited on the lock');
        return rows.length;
      },
      { timeout: 10_000, interval: 50 },
    );
  } finally {
    await by.end();
  }
}

/** Cuts the calls waiting on `locker`'s lock, then lets the lock go; how many were cut. */
async function cutAndUnlock(locker: Pg.Client): Promise<number> {
  const cut = await terminateWaiting(locker);
  await locker.query('COMMIT');
  await locker.end();
  return cut;
}

/** Waits (at most 10 s) until the ledger has written every row it holds. */
async function drained(ledger: { pending: number }): Promise<void> {
  await expect.poll(() => ledger.pending, { timeout: 10_000, interval: 50 }).toBe(0);
}

describe('PostgreSQL connections killed mid-call', () => {
  it('the ledger\'s checked-out client, killed during its INSERT: no crash, the rows are written once', async () => {
    const schema = `faults_${Date.now()}`;
    const lines: string[] = [];
    const ledger = createPostgresLedger({ url: postgres.url, schema, spoolPath: join(tempDir(), 'l.spool'), flushIntervalMs: 100, log: (l) => lines.push(l) });
    await ledger.ready();
    ledger.record(row({ fields: { user: 'first' } }));
    await ledger.flush();
    const locker = await admin();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${schema}".tokenlay_ledger IN ACCESS EXCLUSIVE MODE`);
    for (let i = 0; i < 5; i++) ledger.record(row({ fields: { user: `u${i}` } }));
    const flushing = ledger.flush().then(() => 'written', (e: Error) => e.message);
    expect(await cutAndUnlock(locker)).toBe(1);
    expect(await flushing).toMatch(/terminat/);
    // The background retry writes them once the connection is replaced.
    await drained(ledger);
    const rows = await ledger.ledger();
    expect(rows.map((r) => r.fields.user).sort()).toEqual(['first', 'u0', 'u1', 'u2', 'u3', 'u4']);
    expect(lines.filter((l) => l.includes('is unreachable'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('is reachable again'))).toHaveLength(1);
    expect(ledger.health()).toMatchObject({ available: true, outages: 1, recoveries: 1, pendingRows: 0 });
    await ledger.close();
  }, 30_000);

  it('an idle pooled connection ended by PostgreSQL: one outage line, then its recovery without any row to write', async () => {
    const lines: string[] = [];
    const ledger = createPostgresLedger({ url: postgres.url, schema: `faults_i_${Date.now()}`, spoolPath: join(tempDir(), 'i.spool'), flushIntervalMs: 100, log: (l) => lines.push(l) });
    await ledger.ready();
    const by = await admin();
    await by.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`);
    await by.end();
    await expect.poll(() => ledger.health().recoveries, { timeout: 10_000, interval: 50 }).toBeGreaterThan(0);
    expect(ledger.health()).toMatchObject({ available: true, outages: 1, recoveries: 1 });
    expect(lines).toHaveLength(2);
    await ledger.close();
  }, 30_000);

  it('the ledger\'s migration, killed at start: ready() says so, and the rows recorded meanwhile are written once it runs again', async () => {
    const schema = `faults_m_${Date.now()}`;
    const locker = await admin();
    await locker.query('BEGIN');
    await locker.query('SELECT pg_advisory_xact_lock(hashtext($1))', [ddlLockName(schema)]);
    const ledger = createPostgresLedger({ url: postgres.url, schema, spoolPath: join(tempDir(), 'm.spool'), flushIntervalMs: 100, log: () => {} });
    const ready = ledger.ready().then(() => 'ready', (e: Error) => e.message);
    for (let i = 0; i < 3; i++) ledger.record(row({ fields: { user: `m${i}` } }));
    expect(await cutAndUnlock(locker)).toBe(1);
    expect(await ready).toMatch(/terminat/);
    await drained(ledger);
    expect((await ledger.ledger()).map((r) => r.fields.user).sort()).toEqual(['m0', 'm1', 'm2']);
    await ledger.close();
  }, 30_000);

  it('the key store\'s pooled query, killed mid-lookup: no crash; a key seen before is still known', async () => {
    // The key store's clock, moved by hand past its 1 ms cache.
    let t = Date.now();
    const keys = createPostgresKeyStore({ url: postgres.url, cacheMs: 1, now: () => t });
    await keys.ready();
    const name = `k${Date.now()}`;
    const key = await keys.create(name);
    expect(await keys.authenticate(key)).toBe(name);
    t += 5;
    const locker = await admin();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE tokenlay_keys IN ACCESS EXCLUSIVE MODE');
    const lookup = Promise.resolve(keys.authenticate(key)).then((a) => a ?? 'unknown', (e: Error) => `error: ${e.message}`);
    // The key's "last used" update may be waiting too.
    expect(await cutAndUnlock(locker)).toBeGreaterThanOrEqual(1);
    expect(await lookup).toBe(name);
    expect(await keys.authenticate(key)).toBe(name);
    await keys.close();
  }, 30_000);
});

describe('Redis connections killed mid-call', () => {
  it('the store\'s connection, killed while a reservation waits: that call is refused 503-style, the next ones are counted', async () => {
    const lines: string[] = [];
    const store = createRedisStore({ url: redis.url, prefix: 'faults:', commandTimeoutMs: 2000, log: (l) => lines.push(l) });
    const check = { key: 'k', metric: 'requests' as const, bucket: 0, expiresAt: null, max: 100, amount: 1 };
    const first = await store.reserve([check], { now: Date.now(), leaseMs: 60_000 });
    expect(first.ok).toBe(true);
    const control = new Redis(redis.url);
    // Writes (and so scripts) wait while the server is paused for writes; CLIENT KILL does not.
    await control.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    const held = store.reserve([check], { now: Date.now(), leaseMs: 60_000 }).then((r) => (r.ok ? 'admitted' : 'refused'), (e: Error) => e.name);
    // The script has reached the server and waits there, paused.
    await expect.poll(async () => String(await control.call('INFO', 'clients')), { timeout: 10_000, interval: 20 }).toMatch(/blocked_clients:[1-9]/);
    const killed = Number(await control.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
    expect(killed).toBeGreaterThan(0);
    await control.call('CLIENT', 'UNPAUSE');
    expect(await held).toBe('TokenlayStoreUnavailableError');
    // ioredis reconnects; the store counts again.
    const again = () => store.reserve([check], { now: Date.now(), leaseMs: 60_000 }).then((r) => (r.ok ? 'admitted' : 'refused'), (e: Error) => e.name);
    await expect.poll(again, { timeout: 10_000, interval: 100 }).toBe('admitted');
    control.disconnect();
    await store.close();
  }, 30_000);
});
