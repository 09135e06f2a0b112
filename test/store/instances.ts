import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** One app process started by {@link startInstance}. */
export interface Instance {
  url: string;
  proc: ChildProcess;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, and waits until it has closed its engine and exited. */
  stop(): Promise<void>;
  /** SIGKILL: no close, no flush. */
  kill(): Promise<void>;
}

/** Starts `fixtures/express-instance.ts` with `env` and waits until it listens. */
export async function startInstance(env: Record<string, string>): Promise<Instance> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'express-instance.ts')], {
    env: { ...process.env, ...env, TOKENLAY_STORE: '', TOKENLAY_LEDGER: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`instance exited with ${code} before listening: ${err}`)));
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** POSTs one chat call to an instance as `user` (and `org`); resolves to the HTTP status. */
export async function chat(instance: Instance, body: object, who: { user: string; org?: string }): Promise<number> {
  const res = await fetch(`${instance.url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-app-user': who.user, ...(who.org ? { 'x-app-org': who.org } : {}) },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}
