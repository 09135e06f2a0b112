import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (asked of the OS, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * A redis-server of this test's own, on its own port and without persistence, so the test can
 * stop it without touching the machine's Redis on 6379.
 */
export class PrivateRedis {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server; resolves once it logs that it accepts connections (at most 20 s). */
  async start(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.proc = proc;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        proc.off('exit', exited);
        if (error) reject(error);
        else resolve();
      };
      const exited = (code: number | null) => done(new Error(`redis-server on port ${this.port} exited with ${code}: ${log}`));
      const timer = setTimeout(() => done(new Error(`redis-server on port ${this.port} did not start within 20 s: ${log}`)), 20_000);
      proc.once('exit', exited);
      proc.stdout!.setEncoding('utf8').on('data', (text: string) => {
        if (log.length < 10_000) log += text;
        if (/Ready to accept connections/.test(log)) done();
      });
    });
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    this.proc = undefined;
  }
}
