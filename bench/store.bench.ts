// Store benchmark: reserve+settle cost per call (memory vs SQLite) and ledger write throughput
// (SQLite, batched vs one transaction per row as the baseline). Run: npx tsx bench/store.bench.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '../src/store/memory.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import type { CounterCheck, LedgerRow, TokenlayStore } from '../src/store/types.js';

const MAX_MS = 2_000; // per case, after warm-up
const dir = mkdtempSync(join(tmpdir(), 'tokenlay-bench-'));
let files = 0;
const sqliteFile = (opts: { batchSize?: number } = {}) => createSqliteStore({ path: join(dir, `bench-${files++}.db`), flushIntervalMs: 60_000, ...opts });

// A typical rule set: per-user requests per minute, tokens per day and cost per month.
function checks(user: number, now: number): CounterCheck[] {
  const day = now - (now % 86_400_000);
  return [
    { key: `r1|requests|minute|user=${user}`, metric: 'requests', bucket: now - (now % 60_000), expiresAt: now - (now % 60_000) + 60_000, max: 1e9, amount: 1 },
    { key: `r1|tokens|day|user=${user}`, metric: 'tokens', bucket: day, expiresAt: day + 86_400_000, max: 1e12, amount: 4_500 },
    { key: `r1|cost|month|user=${user}`, metric: 'cost', bucket: 0, expiresAt: null, max: 1e9, amount: 0.01 },
  ];
}

const row = (i: number): LedgerRow => ({
  time: Date.now(), fields: { user: `u${i % 100}`, org: 'acme' }, modelRequested: 'gpt-4o-mini', modelUsed: 'gpt-4o-mini-2024-07-18',
  endpoint: '/v1/chat/completions', inputTokens: 420, outputTokens: 96, cachedTokens: 0, cost: 0.0001206, ruleId: 'r1',
  action: 'allow', status: 200, latencyMs: 812, estimated: false,
});

interface Result { case: string; n: number; meanUs: number; p50Us: number; p99Us: number; perSec: number }

async function timeOps(name: string, maxN: number, op: (i: number) => Promise<void> | void, done?: () => Promise<void>): Promise<Result> {
  for (let i = 0; i < Math.min(200, maxN); i++) await op(-1 - i); // warm-up: JIT, statement cache, pages
  const samples: number[] = [];
  const start = performance.now();
  let n = 0;
  while (n < maxN && performance.now() - start < MAX_MS) {
    const t = performance.now();
    await op(n++);
    samples.push(performance.now() - t);
  }
  await done?.();
  const total = performance.now() - start;
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] * 1000;
  return { case: name, n, meanUs: (total * 1000) / n, p50Us: pct(0.5), p99Us: pct(0.99), perSec: n / (total / 1000) };
}

async function reserveSettle(name: string, store: TokenlayStore, maxN: number): Promise<Result> {
  const result = await timeOps(name, maxN, async (i) => {
    const now = Date.now();
    const r = await store.reserve(checks(i % 1000, now), { now, leaseMs: 60_000 });
    if (!r.ok) throw new Error('bench limits are unreachable; a refusal means a bug');
    await store.settle(r.id, { requests: 1, tokens: 516, cost: 0.0001206 });
  });
  await store.close();
  return result;
}

async function ledgerWrites(name: string, store: TokenlayStore, maxN: number): Promise<Result> {
  // Flushing is part of the cost: the clock stops only once every row is on disk.
  const result = await timeOps(name, maxN, (i) => store.record(row(i)), () => store.flush());
  await store.close();
  return result;
}

const results: Result[] = [];
results.push(await reserveSettle('reserve+settle, 3 counters: memory', createMemoryStore(), 200_000));
results.push(await reserveSettle('reserve+settle, 3 counters: SQLite :memory:', createSqliteStore({ path: ':memory:' }), 50_000));
results.push(await reserveSettle('reserve+settle, 3 counters: SQLite file (WAL)', sqliteFile(), 50_000));
results.push(await ledgerWrites('ledger record: SQLite file, batchSize 100 (default)', sqliteFile(), 200_000));
results.push(await ledgerWrites('ledger record: SQLite file, batchSize 1 (baseline)', sqliteFile({ batchSize: 1 }), 50_000));
rmSync(dir, { recursive: true, force: true });

const f = (x: number, d = 1) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(`Node ${process.version}, ${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}; ${MAX_MS} ms per case max\n`);
console.log('| case | ops | mean µs/op | p50 µs | p99 µs | ops/s |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) console.log(`| ${r.case} | ${r.n} | ${f(r.meanUs, 2)} | ${f(r.p50Us, 2)} | ${f(r.p99Us, 2)} | ${f(r.perSec, 0)} |`);
