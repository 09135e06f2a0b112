/**
 * `simulate` against the engine itself: a ledger the engine wrote (a row's time is when the call
 * arrived, its latency how long it ran) replayed under a concurrency limit predicts what the engine
 * does with the same traffic under that limit.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/billing/simulate.js';
import { loadRules } from '../../src/policy/load.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { LedgerRow } from '../../src/store/types.js';
import { as, hello, onCleanup, rig, tempDir } from '../engine/support.js';

const OPEN = { version: '0.1', rules: [] };
const ONE_AT_A_TIME = { version: '0.1', rules: [{ id: 'one-at-a-time', if: {}, then: { limits: [{ type: 'concurrent', max: 1, window: 'total', per: 'user' }], on_limit_exceeded: { action: 'queue', delay_seconds: 10 } } }] };

/** A long call, and a short one that arrives while it runs; returns the ledger the engine wrote. */
async function traffic(rules: object): Promise<LedgerRow[]> {
  const store = createSqliteStore({ path: join(tempDir(), 'usage.db') });
  onCleanup(() => store.close());
  const { openai } = await rig(
    { rules, store },
    // Real waits: how long each call runs is what the ledger records and the replay reads.
    { behavior: (r) => ({ kind: 'delay', ms: r.body?.messages?.[0]?.content === 'long' ? 800 : 50 }) },
  );
  const long = openai.chat.completions.create({ ...hello, messages: [{ role: 'user', content: 'long' }] }, as({ user: 'ann' }));
  await new Promise((r) => setTimeout(r, 250));
  await openai.chat.completions.create(hello, as({ user: 'ann' }));
  await long;
  await store.flush?.();
  return store.ledger();
}

describe('simulate on a ledger the engine wrote', () => {
  it('queues a short call that arrived while a long one ran, as the engine does under the same limit', async () => {
    const ledger = await traffic(OPEN);
    expect(ledger).toHaveLength(2);
    const start = Math.min(...ledger.map((r) => r.time)) - 60_000;
    const predicted = simulate(ledger, loadRules(ONE_AT_A_TIME), start, start + 3_600_000).users[0]!;

    const actual = await traffic(ONE_AT_A_TIME);
    expect(actual.filter((r) => r.action === 'queue')).toHaveLength(1);
    expect(predicted).toMatchObject({ calls: 2, allowed: 2, queued: 1, refused: 0 });
  }, 30_000);
});
