import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createStore } from '../../src/store/index.js';
import { createRedisStore } from '../../src/store/redis.js';
import { check, counterStoreContract, storeContract } from './contract.js';
import { POSTGRES_URL, REDIS_URL, usePostgresSchemas, useRedisPrefixes } from './services.js';
import { useTempDirs } from './temp-dir.js';

const prefix = useRedisPrefixes();
const schema = usePostgresSchemas();
const tempDir = useTempDirs();
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const LEASE = { now: T0, leaseMs: 30_000 };

counterStoreContract('Redis', () => createRedisStore({ url: REDIS_URL, prefix: prefix() }));
// Both halves by URL, as an app configures them: createStore({ store: 'redis://…', ledger: 'postgres://…' }).
storeContract('Redis counters + Postgres ledger (createStore)', () =>
  createStore({
    store: `${REDIS_URL}?prefix=${encodeURIComponent(prefix())}`,
    ledger: `${POSTGRES_URL}?schema=${schema()}`,
    spoolPath: join(tempDir(), 'ledger.spool'),
  }),
);

describe('Redis store', () => {
  it('shares counters between two stores on one Redis, as two instances would', async () => {
    const p = prefix();
    const a = createRedisStore({ url: REDIS_URL, prefix: p });
    const b = createRedisStore({ url: REDIS_URL, prefix: p });
    try {
      const c = check({ key: 'shared', max: 3 });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).reserve([c], LEASE)));
      expect(results.filter((r) => r.ok)).toHaveLength(3);
      const first = results.find((r) => r.ok)!;
      if (!first.ok) throw new Error('unreachable');
      await b.settle(first.id, { requests: 1, tokens: 0, cost: 0 });
      expect(await a.read('shared', 'requests', T0, T0)).toEqual({ used: 1, reserved: 2 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps every key of an account under one hash tag and lets window keys expire', async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL);
    const p = prefix();
    const store = createRedisStore({ url: REDIS_URL, prefix: p, account: 'acme' });
    try {
      const now = Date.now();
      const r = await store.reserve([check({ key: 'k', bucket: now, expiresAt: now + 60_000 })], { now, leaseMs: 1000 });
      if (!r.ok) throw new Error('expected admission');
      const all = await redis.keys(`${p}*`);
      // The marker that tells a loss of Redis's data (redis-data-loss.ts) lives as long as the data.
      expect(all).toContain(`${p}{acme}:epoch`);
      const keys = all.filter((k) => k !== `${p}{acme}:epoch`);
      // The reservation, the counter, its leases, and the account's leases (to find lost holders).
      expect(keys.length).toBe(4);
      for (const key of keys) expect(key.startsWith(`${p}{acme}:`)).toBe(true);
      for (const key of keys) {
        const ttl = await redis.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        // The window's minute, plus a margin for clock skew; never forever.
        expect(ttl).toBeLessThanOrEqual(60_000 + 60_000 + 24 * 3_600_000);
      }
      const counterTtl = await redis.pttl(keys.find((k) => k.includes(':h:'))!);
      expect(counterTtl).toBeLessThanOrEqual(120_000);
    } finally {
      await store.close();
      redis.disconnect();
    }
  });

  it('converts counters written before money was kept in units (USD floats) when first touched, and settles their reservations', async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL);
    const p = prefix();
    const base = `${p}{default}:`;
    const id = '00000000-0000-4000-8000-00000000abcd';
    // As the earlier version left them: a cost counter in USD with float dust, and a live hold.
    await redis.hset(`${base}h:cost:0:legacy`, 'u', '0.00094500000000000009', 'r', '0.0024594000000000001', `a:${id}`, '0.0024594000000000001');
    await redis.zadd(`${base}l:cost:0:legacy`, T0 + 60_000, id);
    await redis.hset(`${base}r:${id}`, 'n', '1', 'lease', String(T0 + 60_000), 'c1', 'cost:0:legacy', 'm1', 'cost', 'a1', '0.0024594000000000001', 'x1', '', 't1', '');
    const store = createRedisStore({ url: REDIS_URL, prefix: p });
    try {
      expect(await store.read('legacy', 'cost', 0, T0)).toEqual({ used: 0.000945, reserved: 0.0024594 });
      expect(await redis.hget(`${base}h:cost:0:legacy`, 'u')).toBe('9450000');
      await store.settle(id, { requests: 1, tokens: 15, cost: 0.0000045 });
      expect(await store.read('legacy', 'cost', 0, T0)).toEqual({ used: 0.0009495, reserved: 0 });
      const r = await store.reserve([check({ key: 'legacy', metric: 'cost', bucket: 0, expiresAt: null, max: 1, amount: 0.000315 })], LEASE);
      if (!r.ok) throw new Error('expected admission');
      await store.settle(r.id, { requests: 1, tokens: 15, cost: 0.000315 });
      expect(await store.read('legacy', 'cost', 0, T0)).toEqual({ used: 0.0012645, reserved: 0 });
    } finally {
      await store.close();
      redis.disconnect();
    }
  });

  it('keeps fractional cost exact on the 1e-10 USD grid across settlements (no float dust from Lua)', async () => {
    const store = createRedisStore({ url: REDIS_URL, prefix: prefix() });
    try {
      const c = check({ key: 'usd', metric: 'cost', amount: 0.1, max: 100, bucket: 0, expiresAt: null });
      for (const cost of [0.1, 0.2, 0.000123456789012345, 1e-9]) {
        const r = await store.reserve([c], LEASE);
        if (!r.ok) throw new Error('expected admission');
        await store.settle(r.id, { requests: 1, tokens: 0, cost });
      }
      // 0.1 + 0.2 is 0.30000000000000004 in floats; each cost is kept to the nearest 1e-10 USD.
      expect(await store.read('usd', 'cost', 0, T0)).toEqual({ used: 0.3001234578, reserved: 0 });
    } finally {
      await store.close();
    }
  });

  it('refuses a bad onStoreError and a missing url with what to pass', () => {
    expect(() => createRedisStore({ url: REDIS_URL, onStoreError: 'maybe' as 'open' })).toThrow(
      'tokenlay: onStoreError is "maybe"; use "closed" (refuse calls while the store is down) or "open" (admit them uncounted).',
    );
    expect(() => createRedisStore({})).toThrow('tokenlay: the Redis store needs `url` (e.g. "redis://127.0.0.1:6379") or an ioredis `client`.');
  });
});
