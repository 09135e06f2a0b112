import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { CounterCheck, Metric, TokenlayStore } from '../../src/store/types.js';

// A few counters shared by every generated call, so calls contend for the same limits.
const COUNTERS: Array<Pick<CounterCheck, 'key' | 'metric' | 'bucket' | 'expiresAt'>> = [
  { key: 'a', metric: 'requests', bucket: 0, expiresAt: null },
  { key: 'b', metric: 'tokens', bucket: 0, expiresAt: 5_000 },
  { key: 'c', metric: 'cost', bucket: 0, expiresAt: null },
  { key: 'd', metric: 'concurrent', bucket: 0, expiresAt: null },
];

type Op =
  | { op: 'reserve'; counters: number[]; max: number; amount: number; leaseMs: number }
  | { op: 'settle' | 'release'; call: number; tokens: number; cost: number }
  | { op: 'renew'; call: number; leaseMs: number }
  | { op: 'tick'; ms: number };

// Amounts are integers or quarters so that both stores' float sums are exact and comparable.
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('reserve' as const),
    counters: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
    max: fc.integer({ min: 0, max: 6 }),
    amount: fc.integer({ min: 0, max: 8 }).map((q) => q / 4),
    leaseMs: fc.integer({ min: 100, max: 3_000 }),
  }),
  fc.record({
    op: fc.constantFrom('settle' as const, 'release' as const),
    call: fc.nat(30),
    tokens: fc.integer({ min: 0, max: 5 }),
    cost: fc.integer({ min: 0, max: 8 }).map((q) => q / 4),
  }),
  fc.record({ op: fc.constant('renew' as const), call: fc.nat(30), leaseMs: fc.integer({ min: 100, max: 3_000 }) }),
  fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 2_000 }) }),
);

async function play(store: TokenlayStore, ops: Op[]): Promise<unknown[]> {
  const ids: string[] = [];
  const trace: unknown[] = [];
  let now = 0;
  for (const step of ops) {
    if (step.op === 'tick') now += step.ms;
    else if (step.op === 'reserve') {
      const checks = step.counters.map((i) => ({ ...COUNTERS[i], max: step.max, amount: step.amount }));
      const r = await store.reserve(checks, { now, leaseMs: step.leaseMs });
      if (r.ok) ids.push(r.id);
      trace.push(r.ok ? 'ok' : r);
    } else if (step.op === 'renew') {
      if (ids.length) await store.renew(ids[step.call % ids.length], { now, leaseMs: step.leaseMs });
    } else if (ids.length) {
      const id = ids[step.call % ids.length];
      if (step.op === 'settle') await store.settle(id, { requests: 1, tokens: step.tokens, cost: step.cost });
      else await store.release(id);
    }
    for (const c of COUNTERS) trace.push(await store.read(c.key, c.metric as Metric, c.bucket, now));
  }
  return trace;
}

describe('memory and SQLite stores', () => {
  it('agree on every admission and every counter through random sequences of calls', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), async (ops) => {
        const memory = createMemoryStore();
        const sqlite = createSqliteStore({ path: ':memory:' });
        try {
          expect(await play(sqlite, ops)).toEqual(await play(memory, ops));
        } finally {
          await memory.close();
          await sqlite.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
