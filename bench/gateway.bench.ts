/**
 * The gateway's cost, in one run against the same local provider stand-in (its own process):
 * direct to the provider; the floor, a bare `node:http` + undici `Pool` proxy that parses JSON both
 * ways (bench/fixtures/undici-proxy.ts); `tokenlay gateway` with rules (a per-user request limit,
 * a monthly cost cap) on the SQLite store and ledger, and on Redis counters + a PostgreSQL ledger;
 * and `@portkey-ai/gateway` 1.15 from npm. Each proxy runs in a child process pinned to one core
 * (taskset), so "CPU µs per request" is its own user+system time over the requests it served.
 * Rounds are interleaved (every target at every load, then again), so a change in the machine's
 * load falls on all of them alike.
 *
 *   npx tsx bench/gateway.bench.ts
 *   BENCH_ROUNDS=3 BENCH_C1=1000 BENCH_C10=3000 BENCH_C50=5000 BENCH_S=500 …   calls per target and load, over all rounds
 *   BENCH_ONLY=floor,sqlite …   only these targets (direct, floor, sqlite, redis, portkey)
 *   BENCH_PROFILE=1 …   also writes a CPU profile of the SQLite gateway and prints its top functions
 *   BENCH_BASELINE=/path/to/checkout …   also runs the SQLite gateway of another checkout of tokenlay
 *     (its sources beside a node_modules), as target `baseline`: a change and what it replaces, in one run
 *
 * Every proxy runs as it ships, without a TypeScript loader: the gateway from the package's build
 * (`dist/cli.js`, built first when older than the sources: `scripts/ensure-built.mjs`, or tsup in a
 * baseline checkout without that script), the floor bundled with esbuild. Through tsx, every named
 * closure made per call pays an `Object.defineProperty` for its name, which the package does not.
 *
 * Portkey is a benchmark reference, not a dependency: the bench installs `@portkey-ai/gateway@1.15`
 * with npm into a folder of its own (PORTKEY_DIR, default `<tmpdir>/tokenlay-bench-portkey-1.15`)
 * when it is not there yet. The Redis + PostgreSQL gateway uses 127.0.0.1:6379 (a key prefix of
 * its own) and TOKENLAY_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test, a
 * schema of its own, dropped at the end).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { createPostgresKeyStore } from '../src/gateway/keys-postgres.js';
import { createSqliteKeyStore } from '../src/gateway/keys-sqlite.js';

const root = join(import.meta.dirname, '..');
// Children run in other folders, so tsx is named by its path.
const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const COUNTS: Record<number, number> = { 1: Number(process.env.BENCH_C1 ?? 1500), 10: Number(process.env.BENCH_C10 ?? 4500), 50: Number(process.env.BENCH_C50 ?? 7500) };
const STREAMS = Number(process.env.BENCH_S ?? 900);
const WARMUP = 1000;
const CONNS = [1, 10, 50] as const;
const PROFILE = process.env.BENCH_PROFILE === '1';
const ONLY = process.env.BENCH_ONLY?.split(',');
const BASELINE = process.env.BENCH_BASELINE;
const PORTKEY_VERSION = '1.15';
const POSTGRES_URL = process.env.TOKENLAY_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pin = existsSync('/usr/bin/taskset') ? ['taskset', '-c', String(cpus().length - 1)] : [];

const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Summarise the quarterly report in three bullet points.' }] });
const streamBody = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Summarise the quarterly report.' }] });
const rules = `version: '0.1'
rules:
  - id: free
    if: { plan: free }
    then:
      limits:
        - { type: requests, max: 1000000000, window: day, per: user }
        - { type: cost, max: 1000000000, window: month, per: user }
`;

function child(cmd: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { proc: ChildProcess; output: () => string; line: (re: RegExp) => Promise<RegExpExecArray> } {
  const proc = spawn(cmd[0]!, cmd.slice(1), { cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (c: Buffer) => {
    if (out.length < 1_000_000) out += String(c);
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  return {
    proc,
    output: () => out,
    line: (re) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} from ${cmd.join(' ')}: ${out.slice(0, 2000)}`)), 30_000);
        const check = () => {
          const m = re.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else waiters.push(check);
        };
        check();
      }),
  };
}

/**
 * CPU time of a process so far, in µs, from the OS: the on-CPU nanoseconds the scheduler counted
 * for each of its threads (`/proc/<pid>/task/<tid>/schedstat`), so GC and I/O helper threads count
 * too; where that is missing, user+system from `/proc/<pid>/stat` (10 ms ticks).
 */
function cpuUs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // a thread that ended between the listing and the read
      }
    }
    if (ns > 0) return ns / 1000;
  } catch {
    // no schedstat on this kernel
  }
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100);
}

/** The CLI of the checkout at `from` as its package ships it: `dist/cli.js`, built first when stale. */
function builtCli(from: string): string {
  const script = join(from, 'scripts', 'ensure-built.mjs');
  if (existsSync(script)) execFileSync(process.execPath, [script], { cwd: from, stdio: ['ignore', 'inherit', 'inherit'] });
  else if (!existsSync(join(from, 'dist', 'cli.js'))) execFileSync('npx', ['tsup'], { cwd: from, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TOKENLAY_BUILD_DTS: '0' } });
  return join(from, 'dist', 'cli.js');
}

/** The floor proxy bundled into `dir` (its packages imported from this checkout's node_modules, linked beside it). */
async function builtFloor(dir: string): Promise<string> {
  const outfile = join(dir, 'floor', 'undici-proxy.mjs');
  await build({ entryPoints: [join(root, 'bench/fixtures/undici-proxy.ts')], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error' });
  symlinkSync(join(root, 'node_modules'), join(dir, 'floor', 'node_modules'));
  return outfile;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Target {
  id: string;
  name: string;
  url: string;
  headers: Record<string, string>;
  pid?: number;
}

function send(agent: Agent, target: Target, payload: string, onFirstByte?: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${target.url}/chat/completions`, { method: 'POST', agent, headers: { ...target.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let first = true;
      let text = '';
      res.on('data', (c: Buffer) => {
        if (res.statusCode !== 200 && text.length < 500) text += String(c);
        if (first) {
          first = false;
          onFirstByte?.();
        }
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`${target.name}: HTTP ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** What one target did at one load, summed over the rounds. */
interface Tally {
  count: number;
  wall: number;
  cpu: number;
  /** µs per call, to the end of the answer */
  times: number[];
  /** µs per call, to the first byte of the answer */
  firsts: number[];
  error?: string;
}

async function load(target: Target, connections: number, count: number, payload: string, tally: Tally): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  const cpu0 = target.pid ? cpuUs(target.pid) : 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (next < count) {
          next++;
          const t = performance.now();
          let first = 0;
          await send(agent, target, payload, () => (first = performance.now()));
          tally.times.push((performance.now() - t) * 1000);
          tally.firsts.push((first - t) * 1000);
        }
      }),
    );
    tally.wall += (performance.now() - t0) / 1000;
    tally.cpu += target.pid ? cpuUs(target.pid) - cpu0 : 0;
    tally.count += count;
  } catch (err) {
    tally.error ??= (err as Error).message.replace(/\s+/g, ' ').slice(0, 160);
  } finally {
    agent.destroy();
  }
}

/** The top self-time functions of a .cpuprofile, as a share of the samples where the thread was not idle. */
function topFunctions(file: string, n: number): Array<{ fn: string; pct: number }> {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') return;
    const where = f.url.replace(/^.*\/(node_modules\/)?/, '$1').replace(root, '');
    const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, t]) => ({ fn, pct: (100 * t) / total }));
}

/** Installs Portkey's gateway into its own folder with npm, once; returns its start script. */
function portkeyServer(): string | undefined {
  const dir = process.env.PORTKEY_DIR ?? join(tmpdir(), `tokenlay-bench-portkey-${PORTKEY_VERSION}`);
  const bin = join(dir, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(bin)) {
    console.error(`installing @portkey-ai/gateway@${PORTKEY_VERSION} into ${dir} (a benchmark reference, not a dependency)…`);
    try {
      execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `@portkey-ai/gateway@${PORTKEY_VERSION}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    } catch (err) {
      console.error(`Portkey could not be installed (${(err as Error).message.slice(0, 200)}); its rows are left out.`);
      return undefined;
    }
  }
  return existsSync(bin) ? bin : undefined;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gw-bench-'));
  const children: ChildProcess[] = [];
  const outputs: Array<() => string> = [];
  const want = (id: string) => ONLY === undefined || ONLY.includes(id);
  const schema = `bench_gw_${process.pid}`;
  const pgUrl = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  const load0 = loadavg();
  const started = new Date();
  try {
    const provider = child([process.execPath, '--import', tsx, join(root, 'bench/fixtures/fast-provider.ts')]);
    children.push(provider.proc);
    const providerBase = (await provider.line(/provider (http:\/\/\S+)/))[1]!;
    const targets: Target[] = [];
    if (want('direct')) targets.push({ id: 'direct', name: 'direct to the provider', url: providerBase, headers: { authorization: 'Bearer sk-bench' } });

    if (want('floor')) {
      const floor = child([...pin, process.execPath, await builtFloor(dir), providerBase]);
      children.push(floor.proc);
      const url = (await floor.line(/listening on (http:\/\/\S+)/))[1]!;
      targets.push({ id: 'floor', name: 'bare node:http + undici Pool, JSON parsed both ways (the floor)', url: `${url}/v1`, pid: floor.proc.pid!, headers: { authorization: 'Bearer sk-bench' } });
    }

    writeFileSync(join(dir, 'rules.yaml'), rules);
    const callHeaders = (key: string) => ({ authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': 'sk-bench', 'x-tokenlay-provider-base': providerBase, 'x-tokenlay-user': 'user-1', 'x-tokenlay-plan': 'free', 'x-tokenlay-org': 'acme' });
    const profileDir = join(dir, 'profile');
    const sqliteGateway = async (id: string, name: string, from: string, profile: boolean): Promise<void> => {
      const db = join(dir, `${id}.db`);
      const keys = createSqliteKeyStore({ path: db });
      const key = await keys.create('bench');
      await keys.close();
      const gw = child(
        [...pin, process.execPath, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), builtCli(from), 'gateway', '--port', '0', '--rules', join(dir, 'rules.yaml'), '--store', `sqlite:${db}`, '--keys', db, '--allow-provider-base', providerBase],
        { cwd: dir },
      );
      children.push(gw.proc);
      const gwUrl = (await gw.line(/listening on (http:\/\/\S+)/))[1]!;
      targets.push({ id, name, url: `${gwUrl}/v1`, pid: gw.proc.pid!, headers: callHeaders(key) });
    };
    if (want('sqlite')) await sqliteGateway('sqlite', 'tokenlay gateway (rules, SQLite store and ledger, JSON logs)', root, PROFILE);
    if (BASELINE) await sqliteGateway('baseline', `the same, from ${BASELINE}`, BASELINE, false);
    if (want('redis')) {
      const keys = createPostgresKeyStore({ url: pgUrl });
      const key = await keys.create('bench');
      await keys.close();
      const gw = child(
        [...pin, process.execPath, builtCli(root), 'gateway', '--port', '0', '--rules', join(dir, 'rules.yaml'), '--store', `redis://127.0.0.1:6379?prefix=tokenlay-bench-${process.pid}:`, '--ledger', pgUrl, '--allow-provider-base', providerBase],
        { cwd: dir },
      );
      children.push(gw.proc);
      const gwUrl = (await gw.line(/listening on (http:\/\/\S+)/))[1]!;
      targets.push({ id: 'redis', name: 'tokenlay gateway (rules, Redis counters, PostgreSQL ledger, JSON logs)', url: `${gwUrl}/v1`, pid: gw.proc.pid!, headers: callHeaders(key) });
    }
    const portkeyBin = want('portkey') ? portkeyServer() : undefined;
    if (portkeyBin) {
      const port = await freePort();
      const pk = child([...pin, process.execPath, portkeyBin, `--port=${port}`, '--headless'], { env: { NODE_ENV: 'production' } });
      children.push(pk.proc);
      outputs.push(pk.output);
      await pk.line(/Ready for connections/);
      targets.push({ id: 'portkey', name: `@portkey-ai/gateway ${PORTKEY_VERSION} (npm; no rules, no ledger)`, url: `http://127.0.0.1:${port}/v1`, pid: pk.proc.pid!, headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': providerBase } });
    }

    const empty = (): Tally => ({ count: 0, wall: 0, cpu: 0, times: [], firsts: [] });
    const json = new Map(targets.map((t) => [t.id, Object.fromEntries(CONNS.map((c) => [c, empty()])) as Record<number, Tally>]));
    const sse = new Map(targets.map((t) => [t.id, Object.fromEntries(CONNS.map((c) => [c, empty()])) as Record<number, Tally>]));
    for (const target of targets) {
      const warm = empty();
      await load(target, 10, WARMUP, body, warm);
      await load(target, 10, 100, streamBody, empty());
      if (warm.error) console.error(`${target.name}: warm-up failed: ${warm.error}`);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of CONNS) {
        for (const target of targets) {
          await load(target, c, Math.ceil(COUNTS[c]! / ROUNDS), body, json.get(target.id)![c]!);
          await load(target, c, Math.ceil(STREAMS / ROUNDS), streamBody, sse.get(target.id)![c]!);
        }
      }
    }
    const load1 = loadavg();

    const floorId = targets.some((t) => t.id === 'floor') ? 'floor' : targets[0]!.id;
    const p50 = (t: Tally, k: 'times' | 'firsts') => pct([...t[k]].sort((a, b) => a - b), 0.5);
    const p99 = (t: Tally, k: 'times' | 'firsts') => pct([...t[k]].sort((a, b) => a - b), 0.99);
    const cpuOf = (t: Tally) => (t.count && t.cpu ? t.cpu / t.count : NaN);
    const show = (n: number, digits = 0) => (Number.isNaN(n) ? '—' : n.toFixed(digits));
    console.log(`${started.toISOString()}; Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}; proxies pinned with ${pin.join(' ') || '(no taskset)'}; ${ROUNDS} interleaved rounds; calls per target (JSON) c=1: ${COUNTS[1]}, c=10: ${COUNTS[10]}, c=50: ${COUNTS[50]}; streamed ${STREAMS} at each; ${WARMUP} warm-up. Load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}.`);
    for (const [kind, tallies] of [['JSON', json], ['streamed', sse]] as const) {
      console.log(`\n${kind}: CPU µs per request (the proxy's own, from the OS), its ratio to the floor's, req/s, p50 added over the floor (ms), and for streams the first byte's p50 added over the floor (ms)\n`);
      console.log(`| proxy | ${CONNS.map((c) => `${c} conn: CPU µs/req | × floor | req/s | p50 ms (+floor)${kind === 'streamed' ? ' | first byte ms (+floor)' : ''}`).join(' | ')} |`);
      console.log(`| --- | ${CONNS.map(() => (kind === 'streamed' ? '---: | ---: | ---: | ---: | ---:' : '---: | ---: | ---: | ---:')).join(' | ')} |`);
      for (const target of targets) {
        const cells = CONNS.map((c) => {
          const t = tallies.get(target.id)![c]!;
          const f = tallies.get(floorId)![c]!;
          if (t.error || t.count === 0) return [`failed: ${t.error ?? 'no calls'}`, '', '', '', ...(kind === 'streamed' ? [''] : [])].join(' | ');
          const added = (k: 'times' | 'firsts') => (target.id === floorId || target.id === 'direct' ? '' : ` (${(p50(t, k) - p50(f, k) >= 0 ? '+' : '')}${((p50(t, k) - p50(f, k)) / 1000).toFixed(2)})`);
          const cells = [show(cpuOf(t)), show(cpuOf(t) / cpuOf(f), 2), show(t.count / t.wall), `${(p50(t, 'times') / 1000).toFixed(2)}${added('times')}`];
          if (kind === 'streamed') cells.push(`${(p50(t, 'firsts') / 1000).toFixed(2)}${added('firsts')}`);
          return cells.join(' | ');
        });
        console.log(`| ${target.name} | ${cells.join(' | ')} |`);
      }
    }
    console.log(`\np99 ms, JSON at 1 / 10 / 50 conns: ${targets.map((t) => `${t.id} ${CONNS.map((c) => (json.get(t.id)![c]!.times.length ? (p99(json.get(t.id)![c]!, 'times') / 1000).toFixed(2) : '—')).join(' / ')}`).join('; ')}`);

    for (const c of children.slice(1)) c.kill('SIGTERM');
    if (PROFILE) {
      await new Promise((r) => setTimeout(r, 3000));
      // One file per thread: the main thread's is the largest.
      const files = (existsSync(profileDir) ? readdirSync(profileDir) : []).map((f) => join(profileDir, f)).sort((a, b) => statSync(b).size - statSync(a).size);
      if (files[0]) {
        console.log(`\nGateway CPU profile (${files[0]}), top self time, as a share of the time it was not idle:\n`);
        for (const f of topFunctions(files[0], 40)) console.log(`${f.pct.toFixed(1).padStart(5)} %  ${f.fn}`);
      }
    }
  } catch (err) {
    for (const o of outputs) console.error(o().replace(/\r/g, '\n').split('\n').filter((l) => !l.includes('Starting AI')).slice(-40).join('\n'));
    throw err;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    if (!PROFILE) rmSync(dir, { recursive: true, force: true });
    if (want('redis')) await dropSchema(schema).catch((err: Error) => console.error(`could not drop the bench schema ${schema}: ${err.message}`));
  }
}

/** Drops the PostgreSQL schema the Redis + PostgreSQL gateway wrote its ledger and key into. */
async function dropSchema(schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

await main();
