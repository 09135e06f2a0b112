import { join } from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createPostgresLedger, createSqliteStore } from '../../src/store/index.js';
import { formatUsd } from '../../src/store/money.js';
import { migrations as pgMigrations, ensurePartitions, ident } from '../../src/store/postgres-schema.js';
import { migrations as sqliteMigrations } from '../../src/store/sqlite-schema.js';
import { openDatabase } from '../../src/store/sqlite-driver.js';
import { breakdownUsage, costUnitsOf } from '../../src/store/usage-breakdown.js';
import { pgQuery, POSTGRES_URL, usePostgresSchemas } from './services.js';
import { useTempDirs } from './temp-dir.js';
import type * as Pg from 'pg';

// Ledgers and counters written before money was kept in whole 1e-10 USD units: costs were REAL /
// double precision USD, and their float sums drifted. Opened by this version, they are converted.
const require = createRequire(import.meta.url);
const T0 = Date.UTC(2026, 5, 10, 12);
const MONTH = Date.UTC(2026, 5, 1);
// As float metering wrote them: 0.000315 * 3 summed in floats is 0.0009450000000000001.
const NOISY = 0.000315 + 0.000315 + 0.000315;
const COSTS = [0.000315, 0.000315, 0.000315, 0.0024594, 1e-10];
const schemas = usePostgresSchemas();
const tempDir = useTempDirs();

describe('a SQLite store in the schema before integer money (v2)', () => {
  it('is migrated on open: ledger costs, counters and live reservations read back exact, and add as integers', async () => {
    const path = join(tempDir(), 'v2.db');
    // The driver the store itself uses (node:sqlite on Node 22+, better-sqlite3 on 20).
    const old = openDatabase(path, 1000);
    // The released migrations are append-only: the first two are the v2 schema as it shipped.
    for (const sql of sqliteMigrations.slice(0, 2)) old.exec(sql);
    old.pragma('user_version = 2');
    old.prepare('INSERT INTO counters (key, metric, bucket, used, expires_at) VALUES (?, ?, ?, ?, ?)').run('cap|cost|month|org=acme', 'cost', MONTH, NOISY, null);
    old.prepare('INSERT INTO counters (key, metric, bucket, used, expires_at) VALUES (?, ?, ?, ?, ?)').run('cap|tokens|month|org=acme', 'tokens', MONTH, 1234, null);
    old.prepare('INSERT INTO holds (id, idx, key, metric, bucket, amount, lease_until, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run('00000000-0000-4000-8000-000000000001', 0, 'cap|cost|month|org=acme', 'cost', MONTH, 0.0024594, T0 + 3_600_000, null);
    const insert = old.prepare(
      `INSERT INTO ledger (time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens, cached_tokens, cost, rule_id, action, status, latency_ms, estimated)
       VALUES (?, ?, 'gpt-4o-mini', 'gpt-4o-mini', '/v1/chat/completions', 10, 5, 0, ?, NULL, 'allow', 200, 12, 0)`,
    );
    COSTS.forEach((cost, i) => insert.run(T0 + i, JSON.stringify({ user: 'ann' }), cost));
    old.close();

    const store = createSqliteStore({ path });
    try {
      const rows = await store.ledger();
      expect(rows.map((r) => String(r.cost))).toEqual(['0.000315', '0.000315', '0.000315', '0.0024594', '1e-10']);
      expect(rows.every((r) => r.estimateReason === undefined)).toBe(true);
      const total = breakdownUsage(rows, { groupBy: 'user' }).total;
      expect(formatUsd(costUnitsOf(total))).toBe('0.0034044001');
      expect(await store.read('cap|cost|month|org=acme', 'cost', MONTH, T0)).toEqual({ used: 0.000945, reserved: 0.0024594 });
      expect(await store.read('cap|tokens|month|org=acme', 'tokens', MONTH, T0)).toEqual({ used: 1234, reserved: 0 });
      await store.settle('00000000-0000-4000-8000-000000000001', { requests: 1, tokens: 15, cost: 0.0000045 });
      expect(await store.read('cap|cost|month|org=acme', 'cost', MONTH, T0)).toEqual({ used: 0.0009495, reserved: 0 });
    } finally {
      await store.close();
    }
    const after = openDatabase(path, 1000);
    try {
      expect(after.pragma('user_version', { simple: true })).toBe(3);
      expect(after.prepare("SELECT DISTINCT typeof(cost_units) AS t FROM ledger").all()).toEqual([{ t: 'integer' }]);
      expect(after.prepare("SELECT typeof(used) AS t, used FROM counters WHERE metric = 'cost'").get()).toEqual({ t: 'integer', used: 9_495_000 });
      // The USD column stays for hand-written SQL.
      expect(after.prepare('SELECT cost FROM ledger ORDER BY id LIMIT 1').get()).toEqual({ cost: 0.000315 });
    } finally {
      after.close();
    }
  });
});

describe('a PostgreSQL ledger in the schema before integer money (v2)', () => {
  it('is migrated on start: costs become bigint units, read back exact, and new rows add to them', async () => {
    const schema = schemas();
    const s = ident(schema);
    const pg = require('pg') as typeof Pg;
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    try {
      await pool.query(`CREATE SCHEMA ${s}`);
      await pool.query(`CREATE TABLE ${s}.tokenlay_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (let v = 0; v < 2; v++) {
        await pool.query(pgMigrations[v]!.replaceAll('$S', s));
        await pool.query(`INSERT INTO ${s}.tokenlay_migrations (version) VALUES ($1)`, [v + 1]);
      }
      const client = await pool.connect();
      try {
        await ensurePartitions(client, schema, [MONTH]);
      } finally {
        client.release();
      }
      for (const [i, cost] of COSTS.entries()) {
        await pool.query(
          `INSERT INTO ${s}.tokenlay_ledger (call_id, time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens, cached_tokens, cost, rule_id, action, status, latency_ms, estimated)
           VALUES (gen_random_uuid(), $1, '{"user":"ann"}', 'gpt-4o-mini', 'gpt-4o-mini', '/v1/chat/completions', 10, 5, 0, $2, NULL, 'allow', 200, 12, false)`,
          [T0 + i, cost],
        );
      }
    } finally {
      await pool.end();
    }

    const ledger = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: false });
    try {
      await ledger.ready();
      ledger.record({ time: T0 + 10, fields: { user: 'ann' }, modelRequested: null, modelUsed: null, endpoint: '/v1/chat/completions', inputTokens: 0, outputTokens: 0, cachedTokens: 0, cost: NOISY, ruleId: null, action: null, status: 502, latencyMs: 0, estimated: true, estimateReason: 'holder lost' });
      const rows = await ledger.ledger({ fields: { user: 'ann' } });
      expect(rows.map((r) => String(r.cost))).toEqual(['0.000315', '0.000315', '0.000315', '0.0024594', '1e-10', '0.000945']);
      expect(rows.at(-1)!.estimateReason).toBe('holder lost');
      expect(formatUsd(costUnitsOf(breakdownUsage(rows, { groupBy: 'user' }).total))).toBe('0.0043494001');
    } finally {
      await ledger.close();
    }
    const [sum] = await pgQuery<{ units: string; usd: number; type: string }>(
      `SELECT sum(cost_units)::text AS units, sum(cost) AS usd, pg_typeof(min(cost_units))::text AS type FROM ${s}.tokenlay_ledger`,
    );
    expect(sum).toEqual({ units: '43494001', usd: expect.closeTo(0.0043494001, 12), type: 'bigint' });
  }, 30_000);
});
