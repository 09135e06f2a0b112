import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as IORedis from 'ioredis';
import type * as Pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvider, type Provider } from '../support/provider.js';
import { callMany, CHAT_BODY, COUNTED_RULE, createKey, PRICES, startGateway, today, type GatewayProcess } from './gateway-process.js';
import { PrivatePostgres } from './private-postgres.js';
import { freePort, PrivateRedis } from './private-redis.js';

// Two `tokenlay gateway` processes on a private Redis (counters) and a private PostgreSQL cluster
// (ledger and keys) under load while PostgreSQL cuts their connections: pg_terminate_backend, then
// a real restart (pg_ctl stop -m fast, start). No gateway exits, no caller is refused a
// connection, and every call the provider answered is one ledger row and one count on the counters.
const require = createRequire(import.meta.url);
const { Redis } = require('ioredis') as typeof IORedis;
const pg = require('pg') as typeof Pg;
const RULES = `version: '0.1'
rules:
${COUNTED_RULE}${PRICES}`;
const body = CHAT_BODY;

let provider: Provider;
let postgres: PrivatePostgres;
let redis: PrivateRedis;
let dir: string;
let key: string;
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  postgres = new PrivatePostgres();
  redis = new PrivateRedis(await freePort());
  await Promise.all([postgres.create(), redis.start()]);
  provider = await startProvider({ behavior: () => ({ kind: 'delay', ms: 20 }) });
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-pg-restart-'));
  writeFileSync(join(dir, 'rules.yaml'), RULES);
  const ledger = `${postgres.url}?flushIntervalMs=200`;
  key = await createKey(dir, 'acme', ledger);
  const args = ['--rules', 'rules.yaml', '--allow-provider-base', provider.base, '--log-level', 'warn', '--store', `${redis.url}?prefix=restart:`, '--ledger', ledger];
  gateways.push(...(await Promise.all([0, 1].map((i) => startGateway(dir, [...args, '--ledger-spool', `gateway-${i}.spool`])))));
}, 120_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await provider?.close();
  await redis?.stop();
  await postgres?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

function load(total: number, concurrency: number): Promise<Array<number | string>> {
  const headers = { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': 'sk-upstream', 'x-tokenlay-provider-base': provider.base, 'x-tokenlay-org': 'acme' };
  return callMany(gateways.map((g) => g.url), total, concurrency, () => headers, body);
}

async function pgRows(): Promise<number> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM tokenlay_ledger WHERE status = 200`);
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function counted(): Promise<number> {
  const client = new Redis(redis.url);
  try {
    return Number((await client.hget(`restart:{default}:h:requests:${today()}:counted|requests|day|org=acme`, 'u')) ?? 0);
  } finally {
    client.disconnect();
  }
}

/** The ledger has `expected` rows once every spool has drained: polled for at most 30 s. */
async function expectSettledRows(expected: number): Promise<void> {
  await expect.poll(() => pgRows().catch(() => -1), { timeout: 30_000, interval: 250 }).toBe(expected);
}

/**
 * Ends every client connection but this one's. With `midInsert`, first holds the ledger table
 * locked until a gateway's writer waits on that lock, so that it is caught with a client checked
 * out of the pool, mid-INSERT, when its connection ends.
 */
async function terminateAll(midInsert = false): Promise<number> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    if (midInsert) {
      await client.query('BEGIN');
      await client.query('LOCK TABLE tokenlay_ledger IN ACCESS EXCLUSIVE MODE');
      // pg_locks is read live (pg_stat_activity would be frozen for the rest of this transaction).
      const waiting = async () => Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'tokenlay_ledger'::regclass`)).rows[0]!.n);
      await expect.poll(waiting, { timeout: 20_000, interval: 20 }).toBeGreaterThan(0);
    }
    const { rows } = await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`);
    if (midInsert) await client.query('COMMIT');
    return rows.length;
  } finally {
    await client.end();
  }
}

/** How many times `g` has logged its ledger unreachable. */
function outages(g: GatewayProcess): number {
  return g.out().match(/PostgreSQL ledger .* is unreachable/g)?.length ?? 0;
}

function expectAlive(): void {
  for (const g of gateways) expect(g.exited(), g.out()).toBeNull();
}

describe('PostgreSQL cutting the gateways\' connections under load', () => {
  it('pg_terminate_backend of every connection (once mid-INSERT, with the ledger locked), three times during 300 calls: all answered, nothing lost or doubled', async () => {
    const before = provider.requests.length;
    const calls = load(300, 60);
    let terminated = 0;
    // Each cut once 60 more calls have reached the provider: all three while calls are under way.
    for (let i = 0; i < 3; i++) {
      await provider.received(before + 60 * (i + 1));
      terminated += await terminateAll(i === 0);
    }
    const answers = await calls;
    expect(terminated).toBeGreaterThan(0);
    expect(answers.filter((a) => a !== 200)).toEqual([]);
    const answered = provider.requests.length - before;
    expect(answered).toBe(300);
    expectAlive();
    await expectSettledRows(answered);
    expect(await counted()).toBe(answered);
  }, 90_000);

  it('a restart (pg_ctl stop -m fast, start) during 300 calls: all answered, rows spooled and written once it is back', async () => {
    const before = await pgRows();
    const sent = provider.requests.length;
    const unreachable = gateways.map((g) => outages(g));
    const calls = load(300, 60);
    await provider.received(sent + 60);
    await postgres.stop('fast');
    // Down until each gateway has seen the outage (its writer failed and said so).
    await expect.poll(() => gateways.every((g, i) => outages(g) > unreachable[i]!), { timeout: 30_000, interval: 50 }).toBe(true);
    await postgres.start();
    const answers = await calls;
    expect(answers.filter((a) => a !== 200)).toEqual([]);
    const answered = provider.requests.length - sent;
    expect(answered).toBe(300);
    expectAlive();
    await expectSettledRows(before + answered);
    expect(await counted()).toBe(before + answered);
    // One line per outage and one per recovery, from each gateway that saw it.
    for (const g of gateways) {
      expect(g.out()).toMatch(/PostgreSQL ledger .* is unreachable/);
      expect(g.out()).toMatch(/PostgreSQL ledger .* is reachable again/);
    }
    const metrics = await (await fetch(`${gateways[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/tokenlay_ledger_outages(_total)? [1-9]/);
    expect(metrics).toMatch(/tokenlay_ledger_recoveries(_total)? [1-9]/);
  }, 90_000);
});
