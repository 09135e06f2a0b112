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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Ledger rows once every spool has drained (bounded). */
async function settledRows(expected: number): Promise<number> {
  const end = Date.now() + 30_000;
  for (;;) {
    const n = await pgRows().catch(() => -1);
    if (n >= expected || Date.now() > end) return n;
    await sleep(250);
  }
}

/**
 * Ends every client connection but this one's. With `hold`, first holds the ledger table locked
 * for that long, so that the gateways' writers are caught with a client checked out of the pool,
 * mid-INSERT, when their connection ends.
 */
async function terminateAll(hold = 0): Promise<number> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    if (hold > 0) {
      await client.query('BEGIN');
      await client.query('LOCK TABLE tokenlay_ledger IN ACCESS EXCLUSIVE MODE');
      await sleep(hold);
    }
    const { rows } = await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`);
    if (hold > 0) await client.query('COMMIT');
    return rows.length;
  } finally {
    await client.end();
  }
}

function expectAlive(): void {
  for (const g of gateways) expect(g.exited(), g.out()).toBeNull();
}

describe('PostgreSQL cutting the gateways\' connections under load', () => {
  it('pg_terminate_backend of every connection (once mid-INSERT, with the ledger locked), three times during 300 calls: all answered, nothing lost or doubled', async () => {
    const before = provider.requests.length;
    const calls = load(300, 60);
    let terminated = 0;
    for (let i = 0; i < 3; i++) {
      await sleep(300);
      terminated += await terminateAll(i === 0 ? 400 : 0);
    }
    const answers = await calls;
    expect(terminated).toBeGreaterThan(0);
    expect(answers.filter((a) => a !== 200)).toEqual([]);
    const answered = provider.requests.length - before;
    expect(answered).toBe(300);
    expectAlive();
    expect(await settledRows(answered)).toBe(answered);
    expect(await counted()).toBe(answered);
  }, 90_000);

  it('a restart (pg_ctl stop -m fast, start) during 300 calls: all answered, rows spooled and written once it is back', async () => {
    const before = await pgRows();
    const sent = provider.requests.length;
    const calls = load(300, 60);
    await sleep(300);
    await postgres.stop('fast');
    await sleep(1500);
    await postgres.start();
    const answers = await calls;
    expect(answers.filter((a) => a !== 200)).toEqual([]);
    const answered = provider.requests.length - sent;
    expect(answered).toBe(300);
    expectAlive();
    expect(await settledRows(before + answered)).toBe(before + answered);
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
