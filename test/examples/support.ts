/**
 * Runs an example of `examples/<name>/` the way a user does: `npm install` in its folder (the
 * example depends on `"tokenlay": "file:../.."`, i.e. this checkout's build in `dist/`), then its
 * one command (`npm start`), against the provider stand-in, and talks to it over HTTP.
 *
 * Every wait is bounded; a process that exits early, or does not answer in time, fails the test
 * with the last lines it printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../scripts/ensure-built.mjs';
import type { Recorded } from '../support/provider.js';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const EXAMPLES = join(ROOT, 'examples');

/** The provider key examples get in tests; the stand-in accepts any key. */
export const STAND_IN_KEY = 'sk-example-smoke-test';

const installed = new Map<string, Promise<string>>();

/**
 * `npm install` in `examples/<name>` (once per test process), after building `dist/` when it is
 * missing or older than the sources. Resolves the example's folder.
 */
export function installExample(name: string): Promise<string> {
  let done = installed.get(name);
  if (!done) {
    done = (async () => {
      const dir = join(EXAMPLES, name);
      if (!existsSync(join(dir, 'package.json'))) throw new Error(`examples/${name}/package.json does not exist`);
      ensureBuilt();
      try {
        await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
          cwd: dir,
          timeout: 300_000,
          maxBuffer: 16 * 1024 * 1024,
          env: cleanEnv(),
        });
      } catch (error) {
        const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
        throw new Error(`npm install in examples/${name} failed:\n${tail(stdout + stderr)}`);
      }
      return dir;
    })();
    installed.set(name, done);
  }
  return done;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RunningExample {
  /** `http://127.0.0.1:<PORT>`. */
  url: string;
  /** Everything the example printed so far (stdout and stderr). */
  output(): string;
  /** Stops the example and everything it started; resolves once it has exited. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra environment; `PORT`, `HOST`, `PROVIDER_API_BASE` and `PROVIDER_API_KEY` are set already. */
  env?: Record<string, string>;
  /** The stand-in's base URL, e.g. `http://127.0.0.1:1234/v1`. */
  providerBase?: string;
  /** The command; default `npm start`. */
  command?: string[];
  /** A path answered once the app is up (any HTTP status counts). Default `/`. */
  readyPath?: string;
  /** How long to wait for it (ms). Default 90000 (a Next.js dev server compiles first). */
  readyTimeoutMs?: number;
}

/** Starts an installed example and waits until it answers HTTP. */
export async function startExample(name: string, options: StartOptions = {}): Promise<RunningExample> {
  const dir = await installExample(name);
  const port = await freePort();
  const [command, ...args] = options.command ?? ['npm', 'start'];
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    PORT: String(port),
    HOST: '127.0.0.1',
    PROVIDER_API_KEY: STAND_IN_KEY,
    ...(options.providerBase ? { PROVIDER_API_BASE: options.providerBase } : {}),
    ...options.env,
  };
  // Its own process group, so that stop() reaches what `npm start` spawned as well.
  const child = spawn(command!, args, { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (printed += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (printed += text));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running: RunningExample = {
    url: `http://127.0.0.1:${port}`,
    output: () => printed,
    stop: () => stopGroup(child, exited),
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error(`examples/${name}: \`${[command, ...args].join(' ')}\` exited before answering:\n${tail(printed)}`);
    try {
      await fetch(running.url + (options.readyPath ?? '/'), { signal: AbortSignal.timeout(5000) });
      return running;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error(`examples/${name} did not answer on ${running.url} within ${options.readyTimeoutMs ?? 90_000} ms:\n${tail(printed)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs a command of an installed example to its end (bounded), resolving what it printed. */
export async function runInExample(name: string, command: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  const dir = await installExample(name);
  const [file, ...args] = command;
  try {
    return await run(file!, args, { cwd: dir, timeout: options.timeoutMs ?? 60_000, env: { ...cleanEnv(), ...options.env } });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`examples/${name}: \`${command.join(' ')}\` failed: ${(error as Error).message}\n${tail(stdout + stderr)}`);
  }
}

async function stopGroup(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const killed = setTimeout(() => signal('SIGKILL'), 5000);
  await exited;
  clearTimeout(killed);
}

/** This process's environment without tokenlay's own settings, so an example sees only what a test gives it. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('TOKENLAY_') || key.startsWith('PROVIDER_') || key === 'OPENAI_API_KEY' || key.startsWith('VITEST') || key === 'NODE_OPTIONS' || key === 'NODE_ENV') delete env[key];
  }
  return env;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-30).join('\n');
}

/** POSTs JSON to an example, with bounded time; resolves the status, headers and parsed body. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text, so a failing assertion shows what came back
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * Waits (bounded) until an example has printed a line that starts with `prefix`, e.g. a log line
 * written after the answer was sent; resolves every such line.
 */
export async function printedLines(example: RunningExample, prefix: string, timeoutMs = 5_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = example.output().split('\n').filter((line) => line.startsWith(prefix));
    if (lines.length > 0) return lines;
    if (Date.now() > deadline) throw new Error(`no line starting with ${JSON.stringify(prefix)} within ${timeoutMs} ms:\n${tail(example.output())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The text of a chat request's last message, whether the SDK sent it as a string or as parts. */
export function lastMessage(r: Recorded): string {
  const content = r.body?.messages?.at(-1)?.content;
  return Array.isArray(content) ? content.map((part: { text?: string }) => part.text ?? '').join('') : String(content ?? '');
}

/** Output tokens the stand-in reports for a streamed answer under {@link promptLengthUsage}. */
export const STREAMED_OUTPUT_TOKENS = 9;

/**
 * Usage for the stand-in (`startProvider({ usage: promptLengthUsage })`): the prompt's length as
 * its prompt tokens, 5 output tokens, 9 for a stream. A roll-up that took another request's call,
 * or missed a stream's usage, then shows it.
 */
export const promptLengthUsage = (r: Recorded) => ({ prompt: lastMessage(r).length, completion: r.body?.stream ? STREAMED_OUTPUT_TOKENS : 5 });
