import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = join(import.meta.dirname, '..', '..');
/** tsx's loader as a URL, for `--import` from any working directory. */
export const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const bin = join(root, 'src', 'cli', 'main.ts');

/** A `tokenlay` CLI process in `cwd`, with no TOKENLAY_* variable of this process's. */
export function tokenlayCli(cwd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const clean: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(clean)) if (name.startsWith('TOKENLAY_')) delete clean[name];
  return spawn(process.execPath, ['--import', tsx, bin, ...args], { cwd, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A running `tokenlay gateway`: its URL, everything it printed, and whether it exited. */
export interface GatewayProcess {
  proc: ChildProcess;
  url: string;
  out: () => string;
  /** The exit code once it exited (null: still running). */
  exited: () => number | string | null;
  stop(): Promise<void>;
}

/** Starts `tokenlay gateway --port 0 …` in `cwd` and waits for its "listening on" line. */
export async function startGateway(cwd: string, args: string[], env: Record<string, string> = {}): Promise<GatewayProcess> {
  const proc = tokenlayCli(cwd, ['gateway', '--port', '0', ...args], env);
  let out = '';
  let exit: number | string | null = null;
  proc.stdout!.on('data', (c) => (out += String(c)));
  proc.stderr!.on('data', (c) => (out += String(c)));
  proc.once('exit', (code, signal) => (exit = code ?? signal));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', () => {
      const m = /tokenlay gateway listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
  });
  return {
    proc,
    url,
    out: () => out,
    exited: () => exit,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

/**
 * One chat call through a gateway on a connection of its own; resolves with the HTTP status, or
 * with the socket error's code (ECONNREFUSED, ECONNRESET) when the gateway could not be reached.
 */
export function gatewayCall(url: string, headers: Record<string, string>, body: unknown): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end(JSON.stringify(body));
  });
}

/** `total` calls, `concurrency` at a time, spread over the gateways in turn; their answers (see {@link gatewayCall}). */
export async function callMany(urls: string[], total: number, concurrency: number, headers: (i: number) => Record<string, string>, body: unknown): Promise<Array<number | string>> {
  const answers: Array<number | string> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        answers.push(await gatewayCall(urls[i % urls.length]!, headers(i), body));
      }
    }),
  );
  return answers;
}

/** Today's UTC day start (ms), the bucket of a `day` window. */
export function today(): number {
  const now = new Date();
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
}

/** `tokenlay keys create --name <name> --ledger <ledger>` in `cwd`; the new key. */
export async function createKey(cwd: string, name: string, ledger: string): Promise<string> {
  const keys = tokenlayCli(cwd, ['keys', 'create', '--name', name, '--ledger', ledger]);
  let out = '';
  keys.stdout!.on('data', (c) => (out += String(c)));
  keys.stderr!.on('data', (c) => (out += String(c)));
  const code = await new Promise((r) => keys.once('exit', r));
  if (code !== 0) throw new Error(`tokenlay keys create failed: ${out}`);
  return out.trim().split('\n').at(-1)!;
}

/** A rule that counts every call of org `acme` on a day counter it never fills: the counter is the count of answered calls. */
export const COUNTED_RULE = `  - id: counted
    if: { org: acme }
    then: { limits: [{ type: requests, max: 1000000, window: day, per: org }] }
`;
export const PRICES = `prices:
  gpt-4o-mini: { input: 0.15, output: 0.6 }
`;
/** A small chat call. */
export const CHAT_BODY = { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user' as const, content: 'Say hello.' }] };
