import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readBudget, tightest, tightestFromReadings } from '../../src/engine/budget.js';
import { counterMetric, type ResolvedLimit } from '../../src/policy/limits.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { CounterReading } from '../../src/store/types.js';

const NOW = Date.UTC(2026, 11, 7, 12);
const TYPES = ['requests', 'tokens', 'cost', 'concurrent', 'credits'] as const;

function limitOf(i: number, type: (typeof TYPES)[number], max: number, run: boolean): ResolvedLimit {
  return {
    limit: { type, max, window: type === 'concurrent' || type === 'credits' ? 'total' : 'day', per: ['user'] },
    index: i,
    key: `r|${i}|user=u`,
    scope: 'user=u',
    bucket: 0,
    resetsAt: type === 'concurrent' || type === 'credits' ? null : NOW + 3_600_000,
    ...(run ? { run: `run-${i}` } : {}),
  };
}

describe('tightestFromReadings', () => {
  it("names the same limit with the same figures as the read-out's tightest, from a settlement's counters", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ type: fc.constantFrom(...TYPES), max: fc.integer({ min: 1, max: 1000 }), used: fc.integer({ min: 0, max: 1200 }), held: fc.integer({ min: 0, max: 300 }), run: fc.boolean() }), { minLength: 1, maxLength: 5 }),
        async (specs) => {
          const store = createMemoryStore();
          const limits = specs.map((s, i) => limitOf(i, s.type, s.type === 'cost' || s.type === 'credits' ? s.max / 1000 : s.max, s.run));
          const scale = (s: (typeof specs)[number], n: number) => (s.type === 'cost' || s.type === 'credits' ? n / 1000 : n);
          const metricOf = (i: number) => counterMetric(limits[i]!.limit.type);
          // Settled usage, then a reservation still held.
          const settled = await store.reserve(specs.map((s, i) => ({ key: limits[i]!.key, metric: metricOf(i), bucket: 0, max: Infinity, amount: scale(s, s.used), expiresAt: null })), { now: NOW, leaseMs: 60_000 });
          if (!settled.ok) throw new Error('unlimited reservation refused');
          await store.settle(settled.id, { requests: specs[0]!.used, tokens: specs[0]!.used, cost: specs[0]!.used / 1000 });
          const held = await store.reserve(specs.map((s, i) => ({ key: limits[i]!.key, metric: metricOf(i), bucket: 0, max: Infinity, amount: scale(s, s.held), expiresAt: null })), { now: NOW, leaseMs: 60_000 });
          if (!held.ok) throw new Error('unlimited reservation refused');
          const readings: CounterReading[] = [];
          for (const l of limits) readings.push({ key: l.key, metric: counterMetric(l.limit.type), bucket: 0, ...(await store.read(l.key, counterMetric(l.limit.type), 0, NOW)) });
          const expected = tightest(await readBudget(store, limits, 'r', NOW));
          expect(tightestFromReadings(readings.reverse(), limits)).toEqual(expected);
          await store.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('says nothing (so the store is read) when a counter is missing or a window rolls, and null when no limit applies', () => {
    const l = limitOf(0, 'tokens', 10, false);
    expect(tightestFromReadings([], [l])).toBeUndefined();
    expect(tightestFromReadings([{ key: l.key, metric: 'tokens', bucket: 0, used: 1, reserved: 0 }], [{ ...l, earlier: [-1] }])).toBeUndefined();
    expect(tightestFromReadings([{ key: l.key, metric: 'tokens', bucket: 0, used: 1, reserved: 0 }], [])).toBeNull();
  });
});
