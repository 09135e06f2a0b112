/**
 * A process the benchmark measures from outside: started with `node --import tsx`, it announces
 * its URL over IPC, and answers `cpu` with its own `process.cpuUsage()` (user + system µs, read
 * from the OS), so load generation and measuring never run in the measured process.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface Measured {
  url: string;
  /** The child's CPU time so far, µs (user + system, every thread of the process). */
  cpu(): Promise<number>;
  /** Sends a message and waits for the child's answer of the same type. */
  ask<T = any>(message: { type: string; [k: string]: unknown }): Promise<T>;
  close(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;

export function startChild(file: string, args: string[]): Promise<Measured> {
  const child: ChildProcess = fork(file, args, {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(message: { type: string }): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: any) => {
        if (m?.type !== message.type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) => reject(new Error(`${file} ${args.join(' ')} exited (${code}) before answering "${message.type}"`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(message);
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${file} ${args.join(' ')} did not start within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} ${args.join(' ')} exited with code ${code} before it was ready`));
    });
    child.once('message', (m: any) => {
      clearTimeout(timer);
      if (m?.type !== 'ready') return reject(new Error(`${file}: expected "ready", got ${JSON.stringify(m)}`));
      resolve({
        url: m.url,
        ask,
        cpu: () => ask<{ usage: NodeJS.CpuUsage }>({ type: 'cpu' }).then((a) => a.usage.user + a.usage.system),
        close: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.kill();
          }),
      });
    });
  });
}

/** For the child: announce `url`, then answer `cpu` and any other handled message types. */
export function serveParent(url: string, handlers: Record<string, (m: any) => Promise<object> | object> = {}): void {
  process.on('message', async (m: any) => {
    if (m?.type === 'cpu') return process.send!({ type: 'cpu', usage: process.cpuUsage() });
    const handle = handlers[m?.type];
    if (handle) process.send!({ type: m.type, ...(await handle(m)) });
  });
  // The parent going away ends the child: no server outlives a run.
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready', url });
}
