import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPricer, reservationEstimate } from '../../src/metering/index.js';
import { createRedisStore } from '../../src/store/redis.js';
import { startProvider, type Provider } from '../support/provider.js';
import { chat, startInstance, type Instance } from './instances.js';
import { pgQuery, POSTGRES_URL, REDIS_URL, usePostgresSchemas, useRedisPrefixes } from './services.js';

// Three embedded-mode Express app processes behind one "load balancer" (the test spreads calls
// across them), sharing counters in Redis and the ledger in Postgres by URL.
const prefixes = useRedisPrefixes();
const schemas = usePostgresSchemas();
const body = {
  model: 'gpt-4o-mini',
  max_tokens: 5,
  messages: [{ role: 'user' as const, content: 'Please summarise the attached quarterly report in three short bullet points.' }],
};
// $0.10 per input token and $0.20 per output token: the stand-in's 10 + 5 tokens cost $2.00 a call.
const prices = { 'gpt-4o-mini': { input: 100_000, output: 200_000 } };

let provider: Provider;
let dir: string;
let running: Instance[] = [];
beforeAll(async () => {
  provider = await startProvider({ usage: { prompt: 10, completion: 5 }, behavior: () => ({ kind: 'delay', ms: 30 }) });
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-instances-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((i) => i.kill()));
});
afterAll(async () => {
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
});

async function threeInstances(rules: object, prefix: string, schema: string, name: string): Promise<Instance[]> {
  const started = await Promise.all([0, 1, 2].map((i) => startInstance(instanceEnv(rules, prefix, schema, `${name}-${i}`))));
  running.push(...started);
  return started;
}

function instanceEnv(rules: object, prefix: string, schema: string, spool: string): Record<string, string> {
  return {
    PROVIDER_BASE: provider.base,
    RULES: JSON.stringify(rules),
    STORE: `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`,
    LEDGER: `${POSTGRES_URL}?schema=${schema}`,
    TOKENLAY_LEDGER_SPOOL: join(dir, `${spool}.spool`),
    PRICES: JSON.stringify(prices),
  };
}

async function ledgerRows(schema: string, filter: Record<string, string>): Promise<Array<{ status: number; cost: number }>> {
  return pgQuery(`SELECT status, cost FROM "${schema}".tokenlay_ledger WHERE fields @> $1::jsonb`, [JSON.stringify(filter)]);
}

const today = () => Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());

describe('three embedded Express app processes sharing store: redis://… and ledger: postgres://…', () => {
  it('a limit of 10 requests a day for a user: of 30 concurrent attempts spread across the three, exactly 10 succeed', async () => {
    const rules = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 10, window: 'day', per: 'user' }] } }] };
    const schema = schemas();
    const instances = await threeInstances(rules, prefixes(), schema, 'daily');
    const before = provider.requests.length;
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(instances[i % 3], body, { user: 'dana' })));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    expect(provider.requests.length - before).toBe(10);
    await Promise.all(instances.map((i) => i.stop()));
    const rows = await ledgerRows(schema, { user: 'dana' });
    expect(rows.filter((r) => r.status === 200)).toHaveLength(10);
    expect(rows.filter((r) => r.status === 429)).toHaveLength(20);
  });

  it('a cost cap with 150 concurrent calls across the three: settled spend <= cap + one call\'s reservation', async () => {
    const CAP = 50;
    const rules = { rules: [{ id: 'capped', if: {}, then: { limits: [{ type: 'cost', max: CAP, window: 'month', per: 'org' }] } }] };
    const reservation = reservationEstimate('gpt-4o-mini', body, createPricer({ overrides: prices })).cost;
    expect(reservation).toBeGreaterThanOrEqual(2);
    const prefix = prefixes();
    const schema = schemas();
    const instances = await threeInstances(rules, prefix, schema, 'capped');
    const statuses = await Promise.all(Array.from({ length: 150 }, (_, i) => chat(instances[i % 3], body, { user: `u${i}`, org: 'acme' })));
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    // Then waves as room frees, until the cap admits no more (bounded).
    for (let wave = 0; wave < 30; wave++) {
      const more = await Promise.all(Array.from({ length: 15 }, (_, i) => chat(instances[i % 3], body, { user: `w${i}`, org: 'acme' })));
      if (more.every((s) => s === 429)) break;
    }
    await Promise.all(instances.map((i) => i.stop()));
    const rows = await ledgerRows(schema, { org: 'acme' });
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(Math.floor(CAP / reservation));
    expect(settled).toBeGreaterThanOrEqual(CAP);
    expect(settled).toBeLessThanOrEqual(CAP + reservation);
    const store = createRedisStore({ url: REDIS_URL, prefix });
    const month = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1);
    const counter = await store.read('capped|cost|month|org=acme', 'cost', month, Date.now());
    await store.close();
    expect(counter.reserved).toBe(0);
    expect(counter.used).toBeCloseTo(settled, 9);
  });

  it('SIGKILL one instance mid-load: after restart and replay, the Postgres ledger has every settled call exactly once', async () => {
    const rules = { rules: [{ id: 'tracked', if: {}, then: { limits: [{ type: 'requests', max: 1_000_000, window: 'day', per: 'org' }] } }] };
    const prefix = prefixes();
    const schema = schemas();
    const instances = await threeInstances(rules, prefix, schema, 'killed');
    const answered = [0, 0, 0];
    const providerBefore = provider.requests.length;
    let stop = false;
    // Five callers per instance, each org = its instance, bounded to 80 calls per instance.
    const load = instances.map(async (instance, i) => {
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
    while (answered[0] < 25) await new Promise((r) => setTimeout(r, 5));
    await instances[0].kill();
    const spoolFiles = readdirSync(dir).filter((f) => f.startsWith('killed-0.spool') && !f.endsWith('.lock'));
    const spooled = spoolFiles.reduce((n, f) => n + readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length, 0);
    stop = true;
    await Promise.all(load);
    const beforeReplay = (await ledgerRows(schema, { org: 'i0' }).catch(() => [])).length;

    // Restarted on the same spool: it replays what the killed process had not written.
    const restarted = await startInstance(instanceEnv(rules, prefix, schema, 'killed-0'));
    running.push(restarted);
    await Promise.all([restarted, instances[1], instances[2]].map((i) => i.stop()));
    expect(existsSync(join(dir, 'killed-0.spool.lock'))).toBe(false);

    const store = createRedisStore({ url: REDIS_URL, prefix });
    const counted = await Promise.all([0, 1, 2].map((i) => store.read(`tracked|requests|day|org=i${i}`, 'requests', today(), Date.now())));
    await store.close();
    let total = 0;
    for (const i of [0, 1, 2]) {
      const rows = (await ledgerRows(schema, { org: `i${i}` })).filter((r) => r.status === 200);
      total += rows.length;
      // Every call a client saw answered is in the ledger, and so is every call the counters
      // settled (the row is spooled before the settlement).
      expect(rows.length).toBeGreaterThanOrEqual(answered[i]);
      expect(rows.length).toBeGreaterThanOrEqual(counted[i].used);
    }
    // Never more rows than calls that reached the provider: no row was written twice.
    expect(total).toBeLessThanOrEqual(provider.requests.length - providerBefore);
    // The replay was needed: the killed instance had rows only in its spool.
    expect(spooled).toBeGreaterThan(0);
    expect((await ledgerRows(schema, { org: 'i0' })).length).toBeGreaterThan(beforeReplay);
  });
});
