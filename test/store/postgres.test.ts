import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPostgresLedger, type PostgresLedgerOptions } from '../../src/store/postgres.js';
import { migrations, SCHEMA_VERSION } from '../../src/store/postgres-schema.js';
import { createPostgresOverrideStore } from '../../src/store/overrides-postgres.js';
import { createPostgresKeyStore } from '../../src/gateway/keys-postgres.js';
import { ledgerContract, row } from './contract.js';
import { pgQuery, POSTGRES_URL, usePostgresSchemas } from './services.js';
import { useTempDirs } from './temp-dir.js';

const schemaName = usePostgresSchemas();
const tempDir = useTempDirs();
const run = promisify(execFile);

function ledgerWith(over: Partial<PostgresLedgerOptions> = {}) {
  return createPostgresLedger({ url: POSTGRES_URL, schema: schemaName(), spoolPath: join(tempDir(), 'ledger.spool'), ...over });
}

async function count(schema: string): Promise<number> {
  const [{ n }] = await pgQuery<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".tokenlay_ledger`);
  return Number(n);
}

ledgerContract('Postgres', () => ledgerWith());

describe('Postgres ledger', () => {
  it('runs its versioned migrations once, even when three instances start at once', async () => {
    const schema = schemaName();
    const dir = tempDir();
    const ledgers = [0, 1, 2].map((i) => createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: join(dir, `i${i}.spool`) }));
    await Promise.all(ledgers.map((l) => l.ready()));
    const applied = await pgQuery<{ version: number }>(`SELECT version FROM "${schema}".tokenlay_migrations ORDER BY version`);
    expect(applied.map((r) => r.version)).toEqual(migrations.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(migrations.length);
    await Promise.all(ledgers.map((l) => l.close()));
  });

  it('opens on a new schema when several gateways start at once, each with its ledger, key store and override store', async () => {
    // Each gateway opens three stores, each creating the schema if missing; PostgreSQL's
    // CREATE SCHEMA IF NOT EXISTS is not atomic, so two creators at once fail unless serialized.
    for (let round = 0; round < 6; round++) {
      const schema = schemaName();
      const url = `${POSTGRES_URL}?schema=${schema}`;
      const dir = tempDir();
      const ledgers = [0, 1].map((i) => createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: join(dir, `i${i}.spool`) }));
      const overrides = [0, 1].map(() => createPostgresOverrideStore({ url }));
      const keys = [0, 1].map(() => createPostgresKeyStore({ url }));
      try {
        const opened = await Promise.allSettled([
          ...ledgers.map((l) => l.ready()),
          ...overrides.map((o) => o.version()),
          ...keys.map((k) => k.list()),
        ]);
        expect(opened.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
      } finally {
        await Promise.all([...ledgers, ...overrides, ...keys].map(async (s) => s.close()));
      }
    }
  });

  it('refuses a schema migrated by a newer tokenlay, naming both versions', async () => {
    const schema = schemaName();
    const first = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: join(tempDir(), 'f') });
    await first.ready();
    await first.close();
    await pgQuery(`INSERT INTO "${schema}".tokenlay_migrations (version) VALUES (99)`);
    const later = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: join(tempDir(), 's') });
    await expect(later.ready()).rejects.toThrow(`is at version 99, newer than this tokenlay understands (${SCHEMA_VERSION})`);
    await later.close();
  });

  it('writes rows into monthly partitions and drops the months past retainMonths at start', async () => {
    const schema = schemaName();
    const spoolPath = join(tempDir(), 'p.spool');
    const ledger = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath });
    const now = Date.now();
    const d = new Date(now);
    const monthsAgo = (n: number) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, 15);
    for (const n of [0, 1, 5]) ledger.record(row({ time: monthsAgo(n) }));
    await ledger.close();
    const parts = await pgQuery<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace ns ON ns.oid = p.relnamespace WHERE ns.nspname = $1 AND c.relkind = 'r' ORDER BY 1`,
      [schema],
    );
    expect(parts).toHaveLength(3);
    const pruned = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath, retainMonths: 2 });
    await pruned.ready();
    expect((await pruned.ledger()).map((r) => r.time)).toEqual([monthsAgo(1), monthsAgo(0)]);
    await pruned.close();
  });

  it('appends every row to the spool before record() returns, and replays it after a SIGKILL, exactly once', async () => {
    const schema = schemaName();
    const spoolPath = join(tempDir(), 'kill.spool');
    // The child records 500 rows with flushes disabled (a long interval, a huge batch), says so,
    // and waits to be killed.
    const child = execFile(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'spool-and-wait.ts'), POSTGRES_URL, schema, spoolPath, '500']);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('recorded') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(await count(schema)).toBe(0);

    const restarted = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath });
    await restarted.ready();
    expect(await count(schema)).toBe(500);
    // A second replay of the same rows (say, a kill after commit but before the spool was
    // cleared) adds nothing: every row carries its idempotency key.
    await restarted.close();
    expect(readdirSync(join(spoolPath, '..')).filter((f) => f.includes('.flushing'))).toEqual([]);
  });

  it('never duplicates rows when a committed segment is replayed again', async () => {
    const schema = schemaName();
    const dir = tempDir();
    const spoolPath = join(dir, 'dup.spool');
    const ledger = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath, flushIntervalMs: 60_000 });
    for (let i = 0; i < 50; i++) ledger.record(row({ time: Date.now() + i }));
    copyFileSync(spoolPath, join(dir, 'copy'));
    await ledger.flush();
    expect(await count(schema)).toBe(50);
    await ledger.close();
    // As if the process died between the commit and deleting the segment.
    copyFileSync(join(dir, 'copy'), spoolPath);
    const again = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath });
    await again.ready();
    expect(await count(schema)).toBe(50);
    await again.close();
    expect(existsSync(spoolPath)).toBe(true);
  });

  it('keeps rows spooled while Postgres is unreachable, and says so without the password', async () => {
    const errors: unknown[] = [];
    const spoolPath = join(tempDir(), 'down.spool');
    const down = createPostgresLedger({ url: 'postgres://postgres:s3cret@127.0.0.1:1/test', schema: schemaName(), spoolPath, onError: (e) => errors.push(e) });
    down.record(row());
    await expect(down.flush()).rejects.toThrow(/ECONNREFUSED/);
    expect(down.pending).toBe(1);
    await down.close();
    // The row waits on disk for the next start.
    const schema = schemaName();
    const up = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath });
    await up.ready();
    expect(await count(schema)).toBe(1);
    await up.close();
    expect(() => createPostgresLedger({ url: 'mysql://root:hunter2@db/x', spoolPath })).toThrow(
      'tokenlay: ledger URL "mysql://root:***@db/x" is not a Postgres URL; use "postgres://user:password@host:5432/db".',
    );
  });

  it('refuses a spool another live process owns, with the fix', async () => {
    const spoolPath = join(tempDir(), 'owned.spool');
    const child = execFile(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'spool-and-wait.ts'), POSTGRES_URL, schemaName(), spoolPath, '0']);
    try {
      await new Promise<void>((resolve) => child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('recorded') && resolve()));
      expect(() => ledgerWith({ spoolPath })).toThrow(
        `tokenlay: the ledger spool ${spoolPath} is in use by process ${child.pid}. Give each instance its own spool file (option spoolPath, env TOKENLAY_LEDGER_SPOOL).`,
      );
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
    }
    // Its owner is dead: the spool is taken over.
    const next = ledgerWith({ spoolPath });
    await next.close();
  });

  it('is what `tokenlay usage --ledger postgres://…` reads, without a spool of its own', async () => {
    const schema = schemaName();
    const writer = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: join(tempDir(), 'w.spool') });
    for (const user of ['ann', 'ann', 'bob']) writer.record(row({ time: Date.now(), fields: { user }, cost: 0.25 }));
    await writer.close();
    const cwd = tempDir();
    const root = join(import.meta.dirname, '..', '..');
    const { stdout } = await run(process.execPath, ['--import', pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(root, 'src', 'cli', 'main.ts'),
      'usage', '--ledger', `${POSTGRES_URL}?schema=${schema}`, '--json'], { cwd, env: { ...process.env, TOKENLAY_STORE: '', TOKENLAY_LEDGER: '' } });
    const report = JSON.parse(stdout) as { by: string; groups: Array<{ key: string; calls: number; cost: number }>; total: { calls: number; cost: number } };
    expect(report.by).toBe('user');
    expect(report.groups.map((g) => [g.key, g.calls, g.cost])).toEqual([['ann', 2, 0.5], ['bob', 1, 0.25]]);
    expect(report.total).toMatchObject({ calls: 3, cost: 0.75 });
    expect(readdirSync(cwd)).toEqual([]); // no spool, no lock: the command records nothing
  }, 30_000);
});

describe('Postgres ledger, one row per call', () => {
  it("keeps one row for a call id: a lost holder's row and the late row of the same call are not both recorded", async () => {
    const ledger = ledgerWith();
    try {
      const id = globalThis.crypto.randomUUID();
      ledger.record(row({ fields: { user: 'late' }, status: 502, estimated: true, estimateReason: 'holder lost', cost: 0.0024594 }), id);
      await ledger.flush();
      ledger.record(row({ fields: { user: 'late' }, cost: 0.0000045 }), id);
      // A call id that is not a UUID (an uncounted call) never collides: it gets a key of its own.
      ledger.record(row({ fields: { user: 'late' } }), 'uncounted:x');
      ledger.record(row({ fields: { user: 'late' } }), 'uncounted:x');
      const rows = await ledger.ledger({ fields: { user: 'late' } });
      expect(rows).toHaveLength(3);
      expect(rows[0]).toMatchObject({ estimateReason: 'holder lost', cost: 0.0024594 });
    } finally {
      await ledger.close();
    }
  });
});
