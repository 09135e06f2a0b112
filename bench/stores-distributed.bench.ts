// Distributed stores benchmark, in one run: admission + settlement cost per call on memory, SQLite
// and Redis; Redis round trips and server-side operations per call; Redis throughput at
// concurrency 16; Postgres ledger write rate. Redis is a private redis-server on a free port (so
// its command statistics are this run's alone); Postgres is the machine's (a throwaway schema).
// Run: npx tsx bench/stores-distributed.bench.ts   (env TOKENLAY_BENCH_POSTGRES_URL overrides Postgres)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createMemoryStore } from '../src/store/memory.js';
import { createPostgresLedger } from '../src/store/postgres.js';
import { createRedisStore } from '../src/store/redis.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import type { CounterCheck, CounterStore, LedgerRow } from '../src/store/types.js';

const MAX_MS = 2_000; // per case, after warm-up
const POSTGRES_URL = process.env.TOKENLAY_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'tokenlay-bench-'));

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

async function oneCall(store: CounterStore, i: number): Promise<void> {
  const now = Date.now();
  const r = await store.reserve(checks(i % 1000, now), { now, leaseMs: 60_000 });
  if (!r.ok) throw new Error('bench limits are unreachable; a refusal means a bug');
  await store.settle(r.id, { requests: 1, tokens: 516, cost: 0.0001206 });
}

async function sequential(name: string, store: CounterStore, maxN: number): Promise<Result> {
  for (let i = 0; i < 200; i++) await oneCall(store, -1 - i); // warm-up: JIT, statement cache, script cache
  const samples: number[] = [];
  const start = performance.now();
  let n = 0;
  while (n < maxN && performance.now() - start < MAX_MS) {
    const t = performance.now();
    await oneCall(store, n++);
    samples.push(performance.now() - t);
  }
  const total = performance.now() - start;
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] * 1000;
  return { case: name, n, meanUs: (total * 1000) / n, p50Us: pct(0.5), p99Us: pct(0.99), perSec: n / (total / 1000) };
}

async function concurrent(store: CounterStore, workers: number): Promise<{ n: number; perSec: number }> {
  let n = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() - start < MAX_MS) await oneCall(store, n++);
    }),
  );
  return { n, perSec: n / ((performance.now() - start) / 1000) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** Server-side command counts and CPU µs since the last CONFIG RESETSTAT. */
async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

const fmt = (x: number, d = 2) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error('redis-server did not start');
    await sleep(50);
  }
  const admin = new Redis({ port, host: '127.0.0.1' });
  const results: Result[] = [];
  try {
    results.push(await sequential('memory', createMemoryStore(), 200_000));
    const sqlite = createSqliteStore({ path: join(dir, 'bench.db'), flushIntervalMs: 60_000 });
    results.push(await sequential('SQLite file (WAL)', sqlite, 50_000));
    await sqlite.close();

    // Redis through a client whose commands are counted: each command sent is one round trip
    // (the store never pipelines), so commands per call = round trips per call.
    const client = new Redis({ port, host: '127.0.0.1' });
    const sent = new Map<string, number>();
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string }, stream?: unknown) => {
      sent.set(command.name, (sent.get(command.name) ?? 0) + 1);
      return send(command as never, stream as never);
    }) as typeof client.sendCommand;
    const redisStore = createRedisStore({ client, prefix: 'bench:' });
    for (let i = 0; i < 200; i++) await oneCall(redisStore, -1 - i); // loads the scripts
    sent.clear();
    await admin.config('RESETSTAT');
    const measured = await sequential('Redis (127.0.0.1, private redis-server)', redisStore, 100_000);
    results.push(measured);
    const stats = await commandStats(admin);
    // The sequential run's 200 warm-up calls ran after the reset too.
    const calls = measured.n + 200;
    const roundTrips = [...sent.values()].reduce((a, b) => a + b, 0);
    const scriptCalls = (stats.get('evalsha')?.calls ?? 0) + (stats.get('eval')?.calls ?? 0);
    const scriptUsec = (stats.get('evalsha')?.usec ?? 0) + (stats.get('eval')?.usec ?? 0);
    let innerOps = 0;
    for (const [name, s] of stats) if (!['evalsha', 'eval', 'info', 'config|resetstat', 'config'].includes(name)) innerOps += s.calls;
    const byName = [...sent.entries()].map(([k, v]) => `${k} ${fmt(v / calls)}`).join(', ');

    const c16 = await concurrent(redisStore, 16);
    await redisStore.close();
    client.disconnect();

    // Postgres ledger: rows recorded (appended to the spool) then written in batches.
    const schema = `tokenlay_bench_${process.pid}`;
    const ledger = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: join(dir, 'ledger.spool'), flushIntervalMs: 60_000, batchSize: 1000 });
    await ledger.ready();
    const ROWS = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < ROWS; i++) ledger.record(row(i));
    const recordedUs = ((performance.now() - t0) * 1000) / ROWS;
    await ledger.flush();
    const ledgerRate = ROWS / ((performance.now() - t0) / 1000);
    await ledger.close();
    const pgc = new pg.Client({ connectionString: POSTGRES_URL });
    await pgc.connect();
    await pgc.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pgc.end();

    console.log(`## Distributed stores — \`npx tsx bench/stores-distributed.bench.ts\`\n`);
    console.log(`${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; at most ${MAX_MS} ms per case, one call in flight.\n`);
    console.log('| admission + settlement, 3 counters | calls | mean µs/call | p50 µs | p99 µs | calls/s |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results) console.log(`| ${r.case} | ${r.n} | ${fmt(r.meanUs)} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${fmt(r.perSec, 0)} |`);
    console.log('');
    console.log('| Redis, per call (admission + settlement) | value |');
    console.log('| --- | ---: |');
    console.log(`| round trips (commands sent by the client) | ${fmt(roundTrips / calls)} (${byName}) |`);
    console.log(`| scripts run by the server (EVALSHA) | ${fmt(scriptCalls / calls)} |`);
    console.log(`| Redis operations inside the scripts | ${fmt(innerOps / calls, 1)} |`);
    console.log(`| server CPU in the scripts, µs | ${fmt(scriptUsec / calls)} |`);
    console.log(`| calls/s at concurrency 16, one client process | ${fmt(c16.perSec, 0)} |`);
    console.log(`| calls/s one Redis core could serve (1e6 / server µs per call) | ${fmt(1e6 / (scriptUsec / calls), 0)} |`);
    console.log('');
    console.log(`| Postgres ledger | value |`);
    console.log('| --- | ---: |');
    console.log(`| record() (spool append), µs/row | ${fmt(recordedUs)} |`);
    console.log(`| rows/s, record + batched INSERT (${ROWS} rows, batch 1000) | ${fmt(ledgerRate, 0)} |`);
  } finally {
    admin.disconnect();
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
