import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProvider } from '../support/provider.js';
import { startGateway, tsx, type GatewayProcess } from './gateway-process.js';
import { pgQuery, POSTGRES_URL, usePostgresSchemas } from './services.js';
import { useTempDirs } from './temp-dir.js';

// Several instances in one working directory with the default spool (pm2 cluster mode,
// node:cluster workers, two `tokenlay gateway`): each gets a spool of its own, and the spools of
// instances that died are replayed by the next instance started there, each row once.
const schemas = usePostgresSchemas();
const tempDir = useTempDirs();
const fixture = join(import.meta.dirname, 'fixtures', 'spool-and-wait.ts');
const running: GatewayProcess[] = [];
const run = promisify(execFile);
afterAll(async () => {
  await Promise.all(running.map((g) => g.stop()));
});

/** Runs the recording fixture in `cwd` with the default spool; resolves once it recorded, with a way to SIGKILL it. */
async function recorder(cwd: string, schema: string, count: number, workers = 0): Promise<{ kill: () => Promise<void>; pid: number }> {
  const env: Record<string, string | undefined> = { ...process.env, WORKERS: String(workers) };
  delete env.TOKENLAY_LEDGER_SPOOL;
  const child = execFile(process.execPath, ['--import', tsx, fixture, POSTGRES_URL, schema, 'default', String(count)], { cwd, env });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += String(c)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('recorded') && resolve());
    child.once('exit', (code) => reject(new Error(`the recorder exited ${code}: ${err}`)));
  });
  return {
    pid: child.pid!,
    async kill() {
      // The whole group: a node:cluster primary and its workers die together, as on a host crash.
      const workerPids = workers > 0 ? await childPids(child.pid!) : [];
      child.kill('SIGKILL');
      for (const pid of workerPids) process.kill(pid, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // A signalled process dies a moment later; the next instances start once all are dead, as after a crash.
      await expect.poll(() => workerPids.filter(stillRunning), { timeout: 10_000, interval: 20 }).toEqual([]);
    },
  };
}

/** Whether `pid` still runs: neither gone nor a zombie waiting to be reaped. */
function stillRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function childPids(parent: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

async function rows(schema: string): Promise<number> {
  const [{ n }] = await pgQuery<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".tokenlay_ledger`);
  return Number(n);
}

const spools = (cwd: string) => readdirSync(join(cwd, '.tokenlay')).filter((f) => f.endsWith('.spool')).sort();

describe('several instances in one folder, with the default spool', () => {
  it('node:cluster workers each get a spool; after they all die, two instances starting at once replay every row exactly once', async () => {
    const cwd = tempDir();
    const schema = schemas();
    const cluster = await recorder(cwd, schema, 40, 3);
    expect(spools(cwd)).toHaveLength(3);
    await cluster.kill();
    expect(await rows(schema)).toBe(0);
    // The next two instances started in the folder: both look at the dead spools at once.
    const next = await Promise.all([recorder(cwd, schema, 0), recorder(cwd, schema, 0)]);
    await expect.poll(() => rows(schema), { timeout: 15_000, interval: 100 }).toBe(120);
    const [{ distinct }] = await pgQuery<{ distinct: string }>(`SELECT count(DISTINCT call_id) AS distinct FROM "${schema}".tokenlay_ledger`);
    expect(Number(distinct)).toBe(120);
    // The dead spools are gone; the live ones are the two new instances'. A spool is removed after
    // its rows commit, so the last one may still be there when the count reaches 120.
    const own = (f: string) => next.some((n) => f.endsWith(`-${n.pid}.spool`));
    await expect.poll(() => spools(cwd).filter((f) => !own(f)), { timeout: 15_000, interval: 100 }).toEqual([]);
    await Promise.all(next.map((n) => n.kill()));
  }, 60_000);

  it('a pre-existing ./.tokenlay/ledger.spool (the earlier default) left by a dead process is replayed too', async () => {
    const cwd = tempDir();
    const schema = schemas();
    const old = execFile(process.execPath, ['--import', tsx, fixture, POSTGRES_URL, schema, join('.tokenlay', 'ledger.spool'), '7'], { cwd });
    await new Promise<void>((resolve, reject) => {
      old.stdout!.on('data', (c: Buffer) => c.toString().includes('recorded') && resolve());
      old.once('exit', (code) => reject(new Error(`the earlier instance exited ${code}`)));
    });
    old.kill('SIGKILL');
    await new Promise((r) => old.once('exit', r));
    const next = await recorder(cwd, schema, 0);
    await expect.poll(() => rows(schema), { timeout: 15_000, interval: 100 }).toBe(7);
    await next.kill();
  }, 60_000);

  it('an instance that closes cleanly leaves no spool; one that closed while PostgreSQL was down leaves its rows, replayed by the next', async () => {
    const cwd = tempDir();
    const schema = schemas();
    const closeWith = (url: string, count: number) => run(process.execPath, ['--import', tsx, join(import.meta.dirname, 'fixtures', 'record-and-close.ts'), url, schema, String(count)], { cwd });
    await closeWith(POSTGRES_URL, 3);
    expect(await rows(schema)).toBe(3);
    expect(readdirSync(join(cwd, '.tokenlay'))).toEqual([]);
    // PostgreSQL unreachable at close: the rows stay in its spool.
    await closeWith('postgres://postgres@127.0.0.1:1/down', 4);
    expect(spools(cwd)).toHaveLength(1);
    await closeWith(POSTGRES_URL, 0);
    expect(await rows(schema)).toBe(7);
    expect(readdirSync(join(cwd, '.tokenlay'))).toEqual([]);
  }, 60_000);

  it('two `tokenlay gateway` in one working directory both start, each with its own spool', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, '.tokenlay'), { recursive: true });
    const provider = await startProvider();
    try {
      const args = ['--store', 'memory', '--ledger', `${POSTGRES_URL}?schema=${schemas()}`, '--allow-provider-base', provider.base, '--log-level', 'warn'];
      running.push(...(await Promise.all([startGateway(cwd, args), startGateway(cwd, args)])));
      expect(spools(cwd)).toHaveLength(2);
      for (const g of running) expect(g.exited()).toBeNull();
    } finally {
      await provider.close();
    }
  }, 60_000);
});
