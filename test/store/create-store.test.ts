import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { TokenlayStore } from '../../src/store/types.js';
import { check } from './contract.js';
import { useTempDirs } from './temp-dir.js';

const tempDir = useTempDirs();
const opened: TokenlayStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
function open(spec: Parameters<typeof createStore>[0]): TokenlayStore {
  const store = createStore(spec);
  opened.push(store);
  return store;
}

describe('createStore', () => {
  it('opens a memory store for "memory"', async () => {
    const store = open('memory');
    expect((await store.reserve([check({ key: 'k', max: 1 })], { now: 0, leaseMs: 1000 })).ok).toBe(true);
  });

  it('opens a SQLite file for "sqlite:<path>", creating its directories', () => {
    const path = join(tempDir(), 'nested', 'usage.db');
    open(`sqlite:${path}`);
    expect(existsSync(path)).toBe(true);
  });

  it('accepts the URL form "sqlite://<absolute path>"', () => {
    const path = join(tempDir(), 'url.db');
    open(`sqlite://${path}`);
    expect(existsSync(path)).toBe(true);
  });

  it('opens an in-memory SQLite database for "sqlite::memory:"', async () => {
    const store = open('sqlite::memory:');
    store.record({
      time: 1, fields: {}, modelRequested: null, modelUsed: null, endpoint: '/v1/models', inputTokens: 0, outputTokens: 0,
      cachedTokens: 0, cost: 0, ruleId: null, action: null, status: 200, latencyMs: 1, estimated: false,
    });
    expect(await store.ledger()).toHaveLength(1);
  });

  it('passes a store object through unchanged', () => {
    const store = createMemoryStore();
    expect(open(store)).toBe(store);
  });

  it('falls back to TOKENLAY_STORE when no spec is given', () => {
    const previous = process.env.TOKENLAY_STORE;
    const path = join(tempDir(), 'from-env.db');
    process.env.TOKENLAY_STORE = `sqlite:${path}`;
    try {
      open(undefined);
    } finally {
      if (previous === undefined) delete process.env.TOKENLAY_STORE;
      else process.env.TOKENLAY_STORE = previous;
    }
    expect(existsSync(path)).toBe(true);
  });

  it('names the bad value and the accepted forms for an unknown spec', () => {
    expect(() => createStore('mongodb://db/usage')).toThrow(
      'tokenlay: unknown store "mongodb://db/usage"; use "memory", "sqlite:<path>" (e.g. "sqlite:./tokenlay.db"), "sqlite::memory:" or "redis://host:6379" (also "rediss://", and "redis+cluster://host1:7000,host2:7001" for a Redis Cluster)',
    );
    expect(() => createStore('sqlite:')).toThrow('store "sqlite:" names no file');
  });

  it('says a Postgres URL belongs in ledger, without echoing the password', () => {
    const attempt = () => createStore('postgres://app:hunter2@db/usage');
    expect(attempt).toThrow('tokenlay: store "postgres://app:***@db/usage": Postgres holds the ledger, not counters; pass it as ledger: "postgres://app:***@db/usage"');
    expect(attempt).not.toThrow(/hunter2/);
  });

  it('names a bad ledger spec and the accepted forms, without the password', () => {
    const attempt = () => createStore({ store: 'memory', ledger: 'mysql://root:hunter2@db/x' });
    expect(attempt).toThrow('tokenlay: unknown ledger "mysql://root:***@db/x"; use "memory", "sqlite:<path>" or "postgres://user:password@host:5432/db"');
    expect(attempt).not.toThrow(/hunter2/);
    expect(() => createStore({ store: 'memory', ledger: 42 as unknown as string })).toThrow('tokenlay: ledger must be a string');
    expect(() => createStore({ store: 'memory', ledger: 'postgres://app:hunter2@db/usage?batchSize=0' })).toThrow(
      'tokenlay: ledger "postgres://app:***@db/usage?batchSize=0": batchSize=0 must be a whole number >= 1.',
    );
  });

  it('composes counters from one spec and the ledger from another', async () => {
    const path = join(tempDir(), 'ledger.db');
    const store = open({ store: 'memory', ledger: `sqlite:${path}` });
    expect((await store.reserve([check({ key: 'k', max: 1 })], { now: 0, leaseMs: 1000 })).ok).toBe(true);
    store.record({
      time: 1, fields: { user: 'u' }, modelRequested: null, modelUsed: null, endpoint: '/v1/models', inputTokens: 0, outputTokens: 0,
      cachedTokens: 0, cost: 0, ruleId: null, action: null, status: 200, latencyMs: 1, estimated: false,
    });
    await store.flush();
    expect(existsSync(path)).toBe(true);
    expect((await store.ledger()).map((r) => r.fields.user)).toEqual(['u']);
  });

  it('takes the ledger from TOKENLAY_LEDGER when none is given', async () => {
    const previous = process.env.TOKENLAY_LEDGER;
    const path = join(tempDir(), 'env-ledger.db');
    process.env.TOKENLAY_LEDGER = `sqlite:${path}`;
    try {
      open('memory');
    } finally {
      if (previous === undefined) delete process.env.TOKENLAY_LEDGER;
      else process.env.TOKENLAY_LEDGER = previous;
    }
    expect(existsSync(path)).toBe(true);
  });

  it('closes what it opened but not the objects it was given', async () => {
    const counters = createMemoryStore();
    const ledger = createMemoryStore();
    const store = createStore({ store: counters, ledger });
    await store.close();
    expect((await counters.reserve([check({ key: 'k', max: 1 })], { now: 0, leaseMs: 1000 })).ok).toBe(true);
    expect(await ledger.ledger()).toEqual([]);
  });
});
