import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { warmTokenizer } from '../../src/metering/index.js';
import { createSqliteStore } from '../../src/store/index.js';
import { REDIS_URL } from '../store/services.js';
import { gate } from '../support/gate.js';
import { as, hello, manualClock, rig, tempDir } from './support.js';

const daily = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 1000, window: 'day', per: 'user' }] } }] };

describe('engine.close()', () => {
  it('waits for 20 calls in flight, answers every one of them, and writes all 20 to the ledger', async () => {
    const file = join(tempDir(), 'usage.db');
    const clock = manualClock('2026-03-02T10:00:00Z');
    const answer = gate();
    const { openai, fetch, chatCalls, provider } = await rig({ rules: daily, store: `sqlite:${file}`, now: clock.now, sleep: clock.sleep }, { behavior: () => ({ kind: 'hold', until: answer.until }) });
    const calls = Array.from({ length: 20 }, (_, i) => openai.chat.completions.create(hello, as({ user: `u${i % 4}` })));
    await provider.received(20);
    const waiting = clock.sleeping();
    let closed = false;
    const closing = fetch.close().then(() => (closed = true));
    // close() waits its closeTimeout (default 30 s) on the engine's clock for the 20 calls, which the provider holds.
    expect(await waiting).toBe(30_000);
    expect(closed).toBe(false);
    answer.open();
    await closing;
    const answers = await Promise.allSettled(calls);
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill('fulfilled'));
    expect(chatCalls()).toBe(20);
    const reopened = createSqliteStore({ path: file });
    try {
      const rows = await reopened.ledger();
      expect(rows).toHaveLength(20);
      expect(rows.every((r) => r.status === 200)).toBe(true);
    } finally {
      await reopened.close();
    }
  });

  it('refuses a call started after close() with an error that says so', async () => {
    const { openai, fetch } = await rig({ store: 'memory' });
    await fetch.close();
    await expect(fetch.engine.handle({ url: 'http://127.0.0.1:1/v1/chat/completions', method: 'POST', headers: new Headers(), body: '{}' })).rejects.toThrow(
      'tokenlay: the policy engine was closed; create a new client or engine.',
    );
    await expect(openai.chat.completions.create(hello)).rejects.toThrow();
  });

  it('settles what is still in flight after closeTimeout as cut off, and closes', async () => {
    // The cut-off call's tokens are estimated: load the tokenizer first, so that timing is close()'s own.
    warmTokenizer('gpt-4o-mini');
    const clock = manualClock('2026-03-02T10:00:00Z');
    const { openai, fetch, provider } = await rig({ rules: daily, store: 'memory', closeTimeout: 200, now: clock.now, sleep: clock.sleep }, { behavior: () => ({ kind: 'stall' }) });
    const call = openai.chat.completions.create(hello, as({ user: 'late' })).catch((e: unknown) => e);
    await provider.received(1);
    const rows: Array<{ status: number; estimated: boolean }> = [];
    const store = fetch.engine.store;
    const ledger = store.ledger.bind(store);
    // Read the ledger just before the store closes.
    const flush = store.flush.bind(store);
    store.flush = async () => {
      await flush();
      rows.push(...(await ledger()));
    };
    const waiting = clock.sleeping();
    const closing = fetch.close();
    // The provider never answers: once closeTimeout has passed on the engine's clock, close() cuts the call off and closes.
    expect(await waiting).toBe(200);
    clock.advance(200);
    await closing;
    expect(rows).toEqual([expect.objectContaining({ status: 499, estimated: true })]);
    await call;
  });
});

describe('engine.close() with a ledger that cannot be written', () => {
  it('still closes the Redis store it opened when PostgreSQL is down, so the process can exit', async () => {
    const engine = createEngine({ store: REDIS_URL, ledger: 'postgres://postgres@127.0.0.1:1/test', ledgerSpoolPath: join(tempDir(), 'ledger.spool') });
    await expect(engine.close()).rejects.toThrow(/ECONNREFUSED/);
    await expect(engine.store.read('user=nobody', 'requests', 0, Date.now())).rejects.toThrow('tokenlay: Redis store is closed; read() was called after close().');
  });
});
