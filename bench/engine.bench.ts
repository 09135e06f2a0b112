/**
 * Engine cost per call: the same chat completion sent straight to the local provider stand-in
 * (the baseline) and through the embedded engine on the memory and SQLite stores, in one run;
 * plus the engine alone (a provider answering in-process) and ledger write throughput.
 *
 * The engine before a change runs beside the engine of the working tree, in the same run: the
 * sources of BENCH_BASELINE (a git ref, or several separated by commas; default the commit before
 * the engine became named stages) are extracted to a temporary directory (with this checkout's
 * node_modules linked) and imported from there.
 *
 *   npx tsx bench/engine.bench.ts
 *   BENCH_BASELINE=main BENCH_CALLS=500 BENCH_ONLY=alone npx tsx bench/engine.bench.ts
 *   BENCH_ENGINE_ROUNDS=9 (default 3): more interleaved rounds, for a steadier median
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type Engine } from '../src/engine/index.js';
import { createMemoryStore, createSqliteStore } from '../src/store/index.js';
import type { LedgerRow, TokenlayStore } from '../src/store/types.js';
import { startProvider } from '../test/support/provider.js';
import { benchRules, callHeaders, chatBody, engineAt, inProcess } from './lib/engine-calls.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const BASELINES = (process.env.BENCH_BASELINE ?? '943b0c7').split(',').filter((ref) => ref !== '' && ref !== 'none');

const ROUNDS = Number(process.env.BENCH_ENGINE_ROUNDS ?? 3);
const WARMUP = 200;
const CONCURRENCY = 16;
const LEDGER_ROWS = 50_000;

const rules = benchRules;
const body = chatBody;
// A call with no max_tokens under a cost cap smaller than its worst case (16,384 output tokens,
// $0.0098): the engine clamps every one (before the clamp, it was admitted as it was).
const clampedRules = { rules: [{ id: 'tight', if: {}, then: { limits: [{ type: 'cost', max: 0.005, window: 'month', per: 'user' }] } }] };
const unlimited = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the quarterly report in three bullet points.' }] });
const headers = callHeaders;

type Send = (i: number) => Promise<void>;

async function measure(send: Send): Promise<{ meanUs: number; p50Us: number; p99Us: number; rps: number; cpuUs: number }> {
  for (let i = 0; i < WARMUP; i++) await send(i);
  const times: number[] = [];
  // CPU time of this process per call (user + system): what the engine costs, apart from waiting
  // on a machine that others load.
  const cpu = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    await send(i);
    times.push((performance.now() - t) * 1000);
  }
  const used = process.cpuUsage(cpu);
  const cpuUs = (used.user + used.system) / CALLS;
  times.sort((a, b) => a - b);
  // Throughput with CONCURRENCY calls in flight.
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < CALLS) await send(next++);
  }));
  const rps = CALLS / ((performance.now() - started) / 1000);
  return { meanUs: times.reduce((a, b) => a + b, 0) / times.length, p50Us: times[Math.floor(times.length / 2)]!, p99Us: times[Math.floor(times.length * 0.99)]!, rps, cpuUs };
}

const viaFetch = (f: typeof fetch, url: string): Send => async (i) => {
  const res = await f(url, { method: 'POST', headers: headers(i), body });
  await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
};

const viaEngine = (engine: Engine, url: string, text = body): Send => async (i) => {
  const res = await engine.handle({ url, method: 'POST', headers: new Headers(headers(i)), body: text });
  await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
};

function ledgerRow(i: number): LedgerRow {
  return { time: Date.now(), fields: { user: `user-${i % 50}`, org: 'acme', plan: 'free' }, modelRequested: 'gpt-4o-mini', modelUsed: 'gpt-4o-mini', endpoint: '/v1/chat/completions', inputTokens: 12, outputTokens: 3, cachedTokens: 0, cost: 0.0000036, ruleId: 'free', action: 'allow', status: 200, latencyMs: 3, estimated: false };
}

async function ledgerThroughput(store: TokenlayStore): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < LEDGER_ROWS; i++) store.record(ledgerRow(i));
  await store.flush();
  const rate = LEDGER_ROWS / ((performance.now() - started) / 1000);
  await store.close();
  return rate;
}

const dir = mkdtempSync(join(tmpdir(), 'tokenlay-bench-'));
const provider = await startProvider();
const url = `${provider.base}/chat/completions`;
type Result = Awaited<ReturnType<typeof measure>>;
const rows: Array<[string, Result]> = [];
try {
  const was: Array<[string, () => Engine]> = [];
  for (const ref of BASELINES) {
    const before = { createEngine: await engineAt(ref) };
    was.push(
      [`before (${ref}): engine alone (in-process provider), memory store`, () => before.createEngine({ rules, store: 'memory', fetch: inProcess })],
      [`before (${ref}): engine alone (in-process provider), SQLite store`, () => before.createEngine({ rules, store: `sqlite:${join(dir, `was-${Math.random()}.db`)}`, fetch: inProcess })],
      [`before (${ref}): engine alone (in-process provider), memory store, no max_tokens under a tight cost cap`, () => before.createEngine({ rules: clampedRules, store: 'memory', fetch: inProcess })],
    );
  }
  const scenarios: Array<[string, () => { send: Send; close: () => Promise<void> }]> = [
    ['direct fetch to the stand-in (baseline)', () => ({ send: viaFetch(fetch, url), close: async () => {} })],
    ...([
      ['engine, memory store, no rules', () => createEngine({ store: 'memory' })],
      ['engine, memory store, 2 rules / 2 limits', () => createEngine({ rules, store: 'memory' })],
      ['engine, SQLite store, 2 rules / 2 limits', () => createEngine({ rules, store: `sqlite:${join(dir, `bench-${Math.random()}.db`)}` })],
      ['engine alone (in-process provider), memory store', () => createEngine({ rules, store: 'memory', fetch: inProcess })],
      ['engine alone (in-process provider), SQLite store', () => createEngine({ rules, store: `sqlite:${join(dir, `alone-${Math.random()}.db`)}`, fetch: inProcess })],
      ['engine alone (in-process provider), memory store, no max_tokens under a tight cost cap', () => createEngine({ rules: clampedRules, store: 'memory', fetch: inProcess })],
      ...was,
    ] as Array<[string, () => Engine]>).map(([name, make]): [string, () => { send: Send; close: () => Promise<void> }] => [
      name,
      () => {
        const engine = make();
        return { send: viaEngine(engine, url, name.includes('tight cost cap') ? unlimited : body), close: () => engine.close() };
      },
    ]),
  ];
  // BENCH_ONLY=<text> keeps the scenarios whose name contains it (e.g. "alone": the engine's own cost).
  const only = process.env.BENCH_ONLY;
  if (only) scenarios.splice(0, scenarios.length, ...scenarios.filter(([name]) => name.includes(only)));
  // Rounds interleave the scenarios so that machine noise and JIT warm-up hit all alike; the
  // median round is reported.
  const results = new Map<string, Result[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of scenarios) {
      const { send, close } = make();
      const r = await measure(send);
      await close();
      results.set(name, [...(results.get(name) ?? []), r]);
    }
  }
  for (const [name] of scenarios) {
    const rs = results.get(name)!.sort((a, b) => a.meanUs - b.meanUs);
    const cpus = rs.map((r) => r.cpuUs).sort((a, b) => a - b);
    rows.push([name, { ...rs[Math.floor(rs.length / 2)]!, cpuUs: cpus[Math.floor(cpus.length / 2)]! }]);
  }
  const memoryLedger = await ledgerThroughput(createMemoryStore());
  const sqliteLedger = await ledgerThroughput(createSqliteStore({ path: join(dir, 'ledger.db') }));

  const base = rows.find(([name]) => name.includes('baseline'))?.[1] ?? rows[0]![1];
  const fmt = (n: number) => n.toFixed(0);
  console.log(`\nnode ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), median of ${ROUNDS} rounds of ${CALLS} sequential calls after ${WARMUP} warm-up, then ${CALLS} at concurrency ${CONCURRENCY}\n`);
  console.log('| scenario | mean µs/call | p50 µs | p99 µs | CPU µs/call | overhead vs baseline (mean µs) | calls/s at c=16 |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, r] of rows) {
    const overhead = name.includes('baseline') ? '—' : name.includes('alone') ? '(no socket)' : `+${fmt(r.meanUs - base.meanUs)}`;
    console.log(`| ${name} | ${fmt(r.meanUs)} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${fmt(r.cpuUs)} | ${overhead} | ${fmt(r.rps)} |`);
  }
  console.log(`\n| ledger store | rows/s (${LEDGER_ROWS} rows, record + flush) |\n| --- | ---: |`);
  console.log(`| memory | ${fmt(memoryLedger)} |\n| SQLite (WAL, batched) | ${fmt(sqliteLedger)} |`);
} finally {
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
}
