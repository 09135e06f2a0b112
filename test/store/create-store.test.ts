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
    expect(() => createStore('postgres://db/usage')).toThrow(
      'tokenlay: unknown store "postgres://db/usage"; use "memory", "sqlite:<path>" (e.g. "sqlite:./tokenlay.db") or "sqlite::memory:"',
    );
    expect(() => createStore('sqlite:')).toThrow('store "sqlite:" names no file');
  });

  it('says Redis is not here yet, without echoing the password', () => {
    const attempt = () => createStore('redis://default:hunter2@cache:6379/0');
    expect(attempt).toThrow('Redis stores arrive with the distributed store; use memory or sqlite: for now');
    expect(attempt).toThrow('redis://default:***@cache:6379/0');
    expect(attempt).not.toThrow(/hunter2/);
  });
});
