import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPricer, reservationEstimate } from '../../src/metering/index.js';
import { createRedisStore } from '../../src/store/redis.js';
import { startProvider, type Provider } from '../support/provider.js';
import { chat, startInstance, type Instance } from './instances.js';
import { pgQuery, POSTGRES_URL, REDIS_URL, usePostgresSchemas, useRedisPrefixes } from './services.js';

// Three embedded-mode Express app processes behind one "load balancer" (the test spreads calls
// across them), sharing counters in Redis and the ledger in Postgres, both configured by URL.
const prefixes = useRedisPrefixes();
const schemas = usePostgresSchemas();
const body = {
  model: 'gpt-4o-mini',
  max_tokens: 5,
  messages: [{ role: 'user' as const, content: 'Please summarise the attached quarterly report in three short bullet points.' }],
};
// $0.10 per input token and $0.20 per output token: the stand-in's 10 + 5 tokens cost $2.00 a call.
const prices = { 'gpt-4o-mini': { input: 100_000, output: 200_000 } };
// One rule per test, told apart by org, so one set of three instances serves every test.
const CAP = 50;
const rules = {
  rules: [
    { id: 'daily', if: { org: 'daily' }, then: { limits: [{ type: 'requests', max: 10, window: 'day', per: 'user' }] } },
    { id: 'capped', if: { org: 'acme' }, then: { limits: [{ type: 'cost', max: CAP, window: 'month', per: 'org' }] } },
    { id: 'tracked', if: { org: { in: ['i0', 'i1', 'i2'] } }, then: { limits: [{ type: 'requests', max: 1_000_000, window: 'day', per: 'org' }] } },
  ],
};

let provider: Provider;
let dir: string;
let prefix: string;
let schema: string;
let instances: Instance[] = [];
const running: Instance[] = [];

function instanceEnv(spool: string, ledgerParams = ''): Record<string, string> {
  return {
    PROVIDER_BASE: provider.base,
    RULES: JSON.stringify(rules),
    STORE: `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`,
    LEDGER: `${POSTGRES_URL}?schema=${schema}${ledgerParams}`,
    TOKENLAY_LEDGER_SPOOL: join(dir, `${spool}.spool`),
    PRICES: JSON.stringify(prices),
  };
}

beforeAll(async () => {
  provider = await startProvider({ usage: { prompt: 10, completion: 5 }, behavior: () => ({ kind: 'delay', ms: 30 }) });
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-instances-'));
  prefix = prefixes();
  schema = schemas();
  instances = await Promise.all([0, 1, 2].map((i) => startInstance(instanceEnv(`instance-${i}`))));
  running.push(...instances);
});
afterAll(async () => {
  await Promise.all(running.map((i) => i.kill()));
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
});

async function ledgerRows(filter: Record<string, string>): Promise<Array<{ status: number; cost: number }>> {
  return pgQuery(`SELECT status, cost FROM "${schema}".tokenlay_ledger WHERE fields @> $1::jsonb`, [JSON.stringify(filter)]);
}

/** The ledger rows for `filter` once there are `count` of them (instances write every second). */
async function ledgerOnce(filter: Record<string, string>, count: number): Promise<Array<{ status: number; cost: number }>> {
  // Polled for at most 15 s: the rows reach PostgreSQL in the background.
  return vi.waitFor(
    async () => {
      const rows = await ledgerRows(filter);
      if (rows.length < count) throw new Error(`${rows.length} of ${count} ledger rows for ${JSON.stringify(filter)}`);
      return rows;
    },
    { timeout: 15_000, interval: 200 },
  );
}

const today = () => Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());

describe('three embedded Express app processes sharing store: redis://… and ledger: postgres://…', () => {
  it('a limit of 10 requests a day for a user: of 30 concurrent attempts spread across the three, exactly 10 succeed', async () => {
    const before = provider.requests.length;
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(instances[i % 3], body, { user: 'dana', org: 'daily' })));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    expect(provider.requests.length - before).toBe(10);
    const rows = await ledgerOnce({ user: 'dana' }, 30);
    expect(rows.filter((r) => r.status === 200)).toHaveLength(10);
    expect(rows.filter((r) => r.status === 429)).toHaveLength(20);
  }, 60_000);

  it('a cost cap with 150 concurrent calls across the three: settled spend never passes the cap', async () => {
    const reservation = reservationEstimate('gpt-4o-mini', body, createPricer({ overrides: prices })).cost;
    expect(reservation).toBeGreaterThanOrEqual(2);
    const statuses = await Promise.all(Array.from({ length: 150 }, (_, i) => chat(instances[i % 3], body, { user: `u${i}`, org: 'acme' })));
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    // Then waves as room frees, until the cap admits no more (bounded).
    let calls = statuses.length;
    for (let wave = 0; wave < 30; wave++) {
      const more = await Promise.all(Array.from({ length: 15 }, (_, i) => chat(instances[i % 3], body, { user: `w${i}`, org: 'acme' })));
      calls += more.length;
      if (more.every((s) => s === 429)) break;
    }
    const rows = await ledgerOnce({ org: 'acme' }, calls);
    expect(rows).toHaveLength(calls);
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(Math.floor(CAP / reservation));
    expect(settled).toBeLessThanOrEqual(CAP);
    // And the cap is used: what is left cannot hold one more call's bound.
    expect(settled).toBeGreaterThan(CAP - reservation);
    const store = createRedisStore({ url: REDIS_URL, prefix });
    const month = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1);
    const counter = await store.read('capped|cost|month|org=acme', 'cost', month, Date.now());
    await store.close();
    expect(counter.reserved).toBe(0);
    expect(counter.used).toBeCloseTo(settled, 9);
  }, 60_000);

  it('SIGKILL one instance mid-load: after restart and replay, the Postgres ledger has every settled call exactly once', async () => {
    // The victim writes its ledger only when 10 000 rows or an hour have gathered: until it is
    // killed, every row it settled is only in its spool.
    const victim = await startInstance(instanceEnv('victim', '&batchSize=10000&flushIntervalMs=3600000'));
    running.push(victim);
    const targets = [victim, instances[1], instances[2]];
    const answered = [0, 0, 0];
    const providerBefore = provider.requests.length;
    let stop = false;
    // Five callers per instance, org = the instance, bounded to 80 calls per instance.
    const load = targets.map(async (instance, i) => {
      let sent = 0;
      await Promise.all(
        Array.from({ length: 5 }, async () => {
          while (!stop && sent < 80) {
            sent++;
            const status = await chat(instance, body, { user: 'load', org: `i${i}` }).catch(() => 0);
            if (status === 200) answered[i]++;
          }
        }),
      );
    });
    // Killed once it has answered 25 calls, in the middle of the load.
    await expect.poll(() => answered[0], { timeout: 20_000, interval: 5 }).toBeGreaterThanOrEqual(25);
    await victim.kill();
    const spooled = readFileSync(join(dir, 'victim.spool'), 'utf8').split('\n').filter(Boolean).length;
    stop = true;
    await Promise.all(load);
    expect(await ledgerRows({ org: 'i0' })).toHaveLength(0);
    expect(spooled).toBeGreaterThanOrEqual(answered[0]);

    // Restarted on the same spool: it replays what the killed process had not written.
    const restarted = await startInstance(instanceEnv('victim'));
    running.push(restarted);
    await Promise.all([restarted, instances[1], instances[2]].map((i) => i.stop()));
    expect(existsSync(join(dir, 'victim.spool.lock'))).toBe(false);

    const store = createRedisStore({ url: REDIS_URL, prefix });
    const counted = await Promise.all([0, 1, 2].map((i) => store.read(`tracked|requests|day|org=i${i}`, 'requests', today(), Date.now())));
    await store.close();
    let total = 0;
    for (const i of [0, 1, 2]) {
      const rows = (await ledgerRows({ org: `i${i}` })).filter((r) => r.status === 200);
      total += rows.length;
      // Every call a client saw answered is in the ledger, and so is every call the counters
      // settled (the row is spooled before the settlement).
      expect(rows.length).toBeGreaterThanOrEqual(answered[i]);
      expect(rows.length).toBeGreaterThanOrEqual(counted[i].used);
    }
    // Never more rows than calls that reached the provider: no row was written twice.
    expect(total).toBeLessThanOrEqual(provider.requests.length - providerBefore);
    expect((await ledgerRows({ org: 'i0' })).filter((r) => r.status === 200)).toHaveLength(spooled);
  }, 90_000);
});
