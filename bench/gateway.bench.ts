/**
 * The gateway's cost, in one run against the same local provider stand-in (its own process):
 * direct to the provider, through `tokenlay gateway` (rules and the SQLite ledger on, JSON logs),
 * and through `@portkey-ai/gateway` from npm. Each proxy runs in a child process pinned to one core
 * (taskset), so "CPU µs per request" is its own user+system time over the requests it served.
 *
 *   npx tsx bench/gateway.bench.ts
 *   PORTKEY_DIR=/path/with/node_modules/@portkey-ai/gateway npx tsx bench/gateway.bench.ts
 *   BENCH_PROFILE=1 …   also writes a CPU profile of the gateway and prints its top functions
 *
 * Portkey is installed apart from this package (`npm install @portkey-ai/gateway` in PORTKEY_DIR):
 * it is a benchmark reference, not a dependency. Without PORTKEY_DIR its rows are skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSqliteKeyStore } from '../src/gateway/keys-sqlite.js';

const root = join(import.meta.dirname, '..');
// Children run in other folders, so tsx is named by its path.
const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const COUNTS: Record<number, number> = { 1: Number(process.env.BENCH_C1 ?? 2000), 10: Number(process.env.BENCH_C10 ?? 5000), 50: Number(process.env.BENCH_C50 ?? 10000) };
const WARMUP = 1000;
const STREAMS = 300;
const PROFILE = process.env.BENCH_PROFILE === '1';
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

/** user+system CPU of a process so far, in µs (from /proc; 10 ms ticks). */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100);
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

async function load(target: Target, connections: number, count: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const times: number[] = [];
  let next = 0;
  const cpu0 = target.pid ? cpuUs(target.pid) : 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < count) {
        next++;
        const t = performance.now();
        await send(agent, target, body);
        times.push((performance.now() - t) * 1000);
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = target.pid ? (cpuUs(target.pid) - cpu0) / count : NaN;
  agent.destroy();
  times.sort((a, b) => a - b);
  return { rps: count / wall, p50: pct(times, 0.5), p99: pct(times, 0.99), cpu };
}

async function ttfb(target: Target): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const t = performance.now();
    let first = 0;
    await send(agent, target, streamBody, () => (first = performance.now()));
    times.push((first - t) * 1000);
  }
  agent.destroy();
  times.sort((a, b) => a - b);
  return pct(times, 0.5);
}

/** The top self-time functions of a .cpuprofile, as a share of all samples. */
function topFunctions(file: string, n: number): Array<{ fn: string; pct: number }> {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    const f = byId.get(id)!.callFrame;
    const where = f.url.replace(/^.*\/(node_modules\/)?/, '$1').replace(root, '');
    const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, t]) => ({ fn, pct: (100 * t) / total }));
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gw-bench-'));
  const children: ChildProcess[] = [];
  const outputs: Array<() => string> = [];
  try {
    const provider = child([process.execPath, '--import', tsx, join(root, 'bench/fixtures/fast-provider.ts')]);
    children.push(provider.proc);
    const providerBase = (await provider.line(/provider (http:\/\/\S+)/))[1]!;

    writeFileSync(join(dir, 'rules.yaml'), rules);
    const keys = createSqliteKeyStore({ path: join(dir, 'usage.db') });
    const key = keys.create('bench');
    keys.close();
    const profileDir = join(dir, 'profile');
    const gw = child(
      [...pin, process.execPath, ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), '--import', tsx, join(root, 'src/cli/main.ts'), 'gateway', '--port', '0', '--rules', join(dir, 'rules.yaml'), '--store', `sqlite:${join(dir, 'usage.db')}`, '--keys', join(dir, 'usage.db'), '--allow-provider-base', providerBase],
      { cwd: dir },
    );
    children.push(gw.proc);
    const gwUrl = (await gw.line(/listening on (http:\/\/\S+)/))[1]!;

    const targets: Target[] = [
      { name: 'direct to the provider', url: providerBase, headers: { authorization: 'Bearer sk-bench' } },
      {
        name: 'tokenlay gateway (rules, SQLite ledger, JSON logs)',
        url: `${gwUrl}/v1`,
        pid: gw.proc.pid!,
        headers: { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': 'sk-bench', 'x-tokenlay-provider-base': providerBase, 'x-tokenlay-user': 'user-1', 'x-tokenlay-plan': 'free', 'x-tokenlay-org': 'acme' },
      },
    ];
    const portkeyBin = process.env.PORTKEY_DIR ? join(process.env.PORTKEY_DIR, 'node_modules/@portkey-ai/gateway/build/start-server.js') : undefined;
    if (portkeyBin && existsSync(portkeyBin)) {
      const port = await freePort();
      const pk = child([...pin, process.execPath, portkeyBin, `--port=${port}`, '--headless'], { env: { NODE_ENV: 'production' } });
      children.push(pk.proc);
      outputs.push(pk.output);
      await pk.line(/Ready for connections/);
      await new Promise((r) => setTimeout(r, 500));
      targets.push({ name: '@portkey-ai/gateway (npm)', url: `http://127.0.0.1:${port}/v1`, pid: pk.proc.pid!, headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': providerBase } });
    }

    const rows: string[] = [];
    const ttfbs: string[] = [];
    const results: Record<string, Record<number, Awaited<ReturnType<typeof load>>>> = {};
    for (const target of targets) {
      await load(target, 10, WARMUP);
      results[target.name] = {};
      for (const c of [1, 10, 50]) results[target.name]![c] = await load(target, c, COUNTS[c]!);
      const first = await ttfb(target).then((us) => us.toFixed(0), (err: Error) => `failed: ${err.message.slice(0, 120)}`);
      ttfbs.push(`| ${target.name} | ${first} |`);
    }
    const direct = results[targets[0]!.name]!;
    for (const target of targets) {
      const r = results[target.name]!;
      const added = (c: number, k: 'p50' | 'p99') => (target === targets[0] ? '—' : `+${((r[c]![k] - direct[c]![k]) / 1000).toFixed(2)}`);
      const cpu = r[50]!.cpu;
      rows.push(
        `| ${target.name} | ${r[50]!.rps.toFixed(0)} | ${Number.isNaN(cpu) ? '—' : cpu.toFixed(0)} | ${Number.isNaN(cpu) ? '—' : (1e6 / cpu).toFixed(0)} | ${added(1, 'p50')} / ${added(1, 'p99')} | ${added(10, 'p50')} / ${added(10, 'p99')} | ${added(50, 'p50')} / ${added(50, 'p99')} |`,
      );
    }
    console.log(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}; proxies pinned with ${pin.join(' ') || '(no taskset)'}; counts c=1: ${COUNTS[1]}, c=10: ${COUNTS[10]}, c=50: ${COUNTS[50]} after ${WARMUP} warm-up.\n`);
    console.log('| path | req/s at 50 conns | CPU µs/req (proxy) | req/s per core from CPU | added ms p50 / p99, 1 conn | 10 conns | 50 conns |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) console.log(r);
    console.log('\n| path | streaming time to first byte, p50 µs |\n| --- | ---: |');
    for (const t of ttfbs) console.log(t);

    for (const c of children.slice(1)) c.kill('SIGTERM');
    if (PROFILE) {
      await new Promise((r) => setTimeout(r, 3000));
      const files = existsSync(profileDir) ? readdirSync(profileDir) : [];
      if (files[0]) {
        console.log(`\nGateway CPU profile (${join(profileDir, files[0])}), top self time:\n`);
        for (const f of topFunctions(join(profileDir, files[0]), 30)) console.log(`${f.pct.toFixed(1).padStart(5)} %  ${f.fn}`);
      }
    }
  } catch (err) {
    for (const o of outputs) console.error(o().replace(/\r/g, '\n').split('\n').filter((l) => !l.includes('Starting AI')).slice(-40).join('\n'));
    throw err;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    if (!PROFILE) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
