import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { combineStores } from '../../src/store/combine.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createRedisStore, type RedisStoreOptions } from '../../src/store/redis.js';
import { startProvider, type Provider } from '../support/provider.js';
import { freePort, PrivateRedis } from './private-redis.js';

// Redis stopped mid-run, on a private redis-server: the declared policy holds, nothing crashes,
// the outage is logged once, and the store recovers by itself when Redis returns.
const rules = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 1000, window: 'day', per: 'user' }] } }] };
const hello = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello.' }] };
const as = (user: string) => ({ headers: { 'x-tokenlay-user': user } });

let provider: Provider;
let redis: PrivateRedis;
beforeAll(async () => {
  provider = await startProvider();
  redis = new PrivateRedis(await freePort());
  await redis.start();
});
afterAll(async () => {
  await redis.stop();
  await provider.close();
});

function rig(opts: Partial<RedisStoreOptions>) {
  const lines: string[] = [];
  const store = createRedisStore({ url: redis.url, prefix: `outage-${opts.onStoreError}:`, commandTimeoutMs: 1000, log: (l) => lines.push(l), ...opts });
  const embedded = createEmbeddedFetch({ rules, store: combineStores(store, createMemoryStore()) });
  const openai = new OpenAI({ apiKey: 'sk-test', baseURL: provider.base, fetch: embedded, maxRetries: 0 });
  const call = (user: string) =>
    openai.chat.completions.create(hello, as(user)).then(
      () => 200,
      (e: unknown) => (e instanceof OpenAI.APIError ? { status: e.status, type: (e.error as { type?: string } | undefined)?.type, message: e.message } : Promise.reject(e)),
    );
  return { store, embedded, call, lines };
}

const today = () => Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    // Polled (bounded above): the store's reconnection shows only in what the next call gets.
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Redis stopped mid-run', () => {
  it('closed (the default): answers 503 tokenlay_store_unavailable, logs the outage once, recovers, counters consistent', async () => {
    const { store, embedded, call, lines } = rig({ onStoreError: undefined });
    try {
      for (let i = 0; i < 5; i++) expect(await call('ann')).toBe(200);
      redis.pause();
      const during = await Promise.all(Array.from({ length: 6 }, () => call('ann')));
      for (const answer of during) {
        expect(answer).toMatchObject({ status: 503, type: 'tokenlay_store_unavailable' });
        expect((answer as { message: string }).message).toContain('the Redis store redis://127.0.0.1:');
      }
      expect(store.health()).toMatchObject({ available: false, outages: 1, unavailableCalls: 6 });
      redis.resume();
      expect(await until(() => call('ann'), (v) => v === 200)).toBe(200);
      for (let i = 0; i < 4; i++) expect(await call('ann')).toBe(200);
      expect(store.health()).toMatchObject({ available: true, outages: 1 });
      // 10 answered calls, each counted once; nothing of the refused ones is held or counted.
      await embedded.engine.flush();
      const counter = await until(() => store.read('daily|requests|day|user=ann', 'requests', today(), Date.now()), (c) => c.reserved === 0);
      expect(counter).toEqual({ used: 10, reserved: 0 });
      expect(lines.filter((l) => l.includes('is unreachable'))).toHaveLength(1);
      expect(lines.filter((l) => l.includes('is reachable again'))).toHaveLength(1);
      expect(lines[0]).toMatch(/^tokenlay: Redis store redis:\/\/127\.0\.0\.1:\d+ is unreachable \(.+\); calls with limits are refused \(503 tokenlay_store_unavailable\) until it returns \(onStoreError: closed\)\.$/);
    } finally {
      redis.resume();
      await embedded.close();
      await store.close();
    }
  });

  it('open: admits calls uncounted while Redis is down (killed and restarted), and recovers without a restart', async () => {
    const { store, embedded, call, lines } = rig({ onStoreError: 'open' });
    try {
      for (let i = 0; i < 3; i++) expect(await call('bob')).toBe(200);
      await redis.stop();
      for (let i = 0; i < 4; i++) expect(await call('bob')).toBe(200);
      expect(store.health()).toMatchObject({ available: false, outages: 1, unavailableCalls: 4 });
      await redis.start(); // a new, empty Redis on the same port
      await until(async () => store.health().available, (v) => v);
      // Counting resumes on counters rebuilt from the ledger (the new Redis came back empty): the
      // 3 calls before, the 4 let through uncounted during the outage, and the 2 since.
      for (let i = 0; i < 2; i++) expect(await call('bob')).toBe(200);
      await embedded.engine.flush();
      expect(await store.read('daily|requests|day|user=bob', 'requests', today(), Date.now())).toEqual({ used: 9, reserved: 0 });
      expect(lines.filter((l) => l.includes('lost its data'))).toHaveLength(1);
      expect(lines.filter((l) => l.includes('is unreachable'))).toHaveLength(1);
      expect(lines.find((l) => l.includes('is unreachable'))).toContain('calls are admitted without counting until it returns (onStoreError: open)');
    } finally {
      await embedded.close();
      await store.close();
    }
  });
});
