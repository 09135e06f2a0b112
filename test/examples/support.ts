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
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../scripts/ensure-built.mjs';
import { expect } from 'vitest';
import { watchPrinted, type Printed } from '../support/printed.js';
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
  /** The same, to await a line as it is printed. */
  printed: Printed;
  /**
   * Stops the example and everything it started; resolves once it has exited. `signal` goes to
   * `npm start`'s process group: SIGTERM (default) as a process manager sends, SIGINT as Ctrl-C.
   */
  stop(signal?: NodeJS.Signals): Promise<void>;
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
  const output = watchPrinted([child.stdout!, child.stderr!]);
  const printed = output.text;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running: RunningExample = {
    url: `http://127.0.0.1:${port}`,
    output: printed,
    printed: output,
    stop: (signal) => stopGroup(child, exited, signal),
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error(`examples/${name}: \`${[command, ...args].join(' ')}\` exited before answering:\n${tail(printed())}`);
    try {
      await fetch(running.url + (options.readyPath ?? '/'), { signal: AbortSignal.timeout(5000) });
      return running;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error(`examples/${name} did not answer on ${running.url} within ${options.readyTimeoutMs ?? 90_000} ms:\n${tail(printed())}`);
    }
    // Polled (bounded above): answering HTTP is what "ready" means, and the examples print no common line for it.
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

/**
 * The shell commands of `examples/<name>/README.md`, as a user copies them: every line of its
 * ```sh blocks, with `\` continuations joined; blank lines and `#` comment lines left out.
 */
export function readmeCommands(name: string): string[] {
  const readme = readFileSync(join(EXAMPLES, name, 'README.md'), 'utf8');
  const commands: string[] = [];
  for (const [, body] of readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    for (const line of body!.replace(/\\\n\s*/g, ' ').split('\n')) {
      if (line.trim() !== '' && !line.trimStart().startsWith('#')) commands.push(line.trim());
    }
  }
  return commands;
}

/** The one README command that contains every one of `parts`; fails when there is none or several. */
export function readmeCommand(name: string, ...parts: string[]): string {
  const found = readmeCommands(name).filter((command) => parts.every((part) => command.includes(part)));
  if (found.length !== 1) throw new Error(`examples/${name}/README.md has ${found.length} sh commands containing ${parts.map((p) => JSON.stringify(p)).join(' and ')}; expected one`);
  return found[0]!;
}

/**
 * Runs one command line with bash, as pasted into a terminal (real binaries, e.g. `curl`), in an
 * installed example's folder; bounded by `timeoutMs`. Resolves with its exit code and output.
 */
export async function runShell(name: string, command: string, options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await installExample(name);
  try {
    const { stdout, stderr } = await run('bash', ['-c', command], { cwd: dir, timeout: options.timeoutMs ?? 30_000, env: { ...cleanEnv(), ...options.env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout = '', stderr = '', killed } = error as { code?: number; stdout?: string; stderr?: string; killed?: boolean };
    if (killed || typeof code !== 'number') throw new Error(`examples/${name}: \`${command}\` did not finish: ${(error as Error).message}\n${tail(stdout + stderr)}`);
    return { code, stdout, stderr };
  }
}

/** The JSON lines an example printed as `[name] {…}` (how its start script prefixes a service's log). */
export function loggedJson(output: string, name: string): Array<Record<string, any>> {
  const prefix = `[${name}] {`;
  return output
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .map((line) => JSON.parse(line.slice(prefix.length - 1)));
}

/** What `curl -si` printed: the last status line (after any `100 Continue`), its headers (lower-case names) and the body. */
export function curlResponse(printed: string): { status: number; headers: Record<string, string>; body: string } {
  let rest = printed;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (!rest.startsWith('HTTP/') || end === -1) throw new Error(`not the output of curl -i:\n${tail(printed)}`);
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    rest = rest.slice(end + 4);
    const status = Number(statusLine!.split(' ')[1]);
    if (status >= 200 || !rest.startsWith('HTTP/')) {
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      return { status, headers, body: rest };
    }
  }
}

/**
 * Stops what `npm start` started and resolves once every process of it has exited. npm itself
 * exits at once on SIGTERM, before the script it ran; and a script may start services in
 * process groups of their own: so the processes are found by parentage before the signal, and
 * waited for one by one. What still runs after 5 s gets SIGKILL.
 */
async function stopGroup(child: ChildProcess, exited: Promise<unknown>, first: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const tree = await descendants(child.pid!);
  const signal = (sig: NodeJS.Signals) => {
    for (const target of [-child.pid!, ...tree]) {
      try {
        process.kill(target, sig);
      } catch {
        // already gone
      }
    }
  };
  try {
    process.kill(-child.pid!, first);
  } catch {
    // already gone
  }
  const killed = setTimeout(() => signal('SIGKILL'), 5000);
  await exited;
  // Polled (bounded): the grandchildren are not this process's children, so their exit sends no event here.
  for (let i = 0; i < 120 && tree.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  clearTimeout(killed);
  if (tree.some(alive)) {
    signal('SIGKILL');
    for (let i = 0; i < 20 && tree.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every process below `pid`, by parentage (`ps`), wherever its process group. */
async function descendants(pid: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-A', '-o', 'pid=,ppid='], { timeout: 10_000 });
  const children = new Map<number, number[]>();
  for (const line of stdout.trim().split('\n')) {
    const [p, parent] = line.trim().split(/\s+/).map(Number);
    children.set(parent!, [...(children.get(parent!) ?? []), p!]);
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    const next = children.get(queue.shift()!) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
}

/** True while `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc (macOS): kill(0) is all there is
  }
}

/** This process's environment without tokenlay's own settings, so an example sees only what a test gives it. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('TOKENLAY_') || key.startsWith('PROVIDER_') || key === 'OPENAI_API_KEY' || key.startsWith('VITEST') || key === 'NODE_OPTIONS' || key === 'NODE_ENV') delete env[key];
  }
  return env;
}

/** The last 30 lines of what a process printed, for a failure message. */
export function tail(text: string): string {
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

/** Signs in at an example's `POST /login` (`{ username, password }` → `{ token }`); resolves the bearer header. */
export async function bearerLogin(url: string, username: string, password: string): Promise<Record<string, string>> {
  const { status, body } = await postJson(`${url}/login`, { username, password });
  if (status !== 200 || typeof body?.token !== 'string') throw new Error(`POST /login as ${username} answered ${status}: ${JSON.stringify(body)}`);
  return { authorization: `Bearer ${body.token}` };
}

/**
 * Waits (bounded) until an example has printed a line that starts with `prefix`, e.g. a log line
 * written after the answer was sent; resolves every such line.
 */
export async function printedLines(example: RunningExample, prefix: string, timeoutMs = 20_000): Promise<string[]> {
  const startsALine = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm');
  await example.printed.until(startsALine, timeoutMs).catch((err: Error) => {
    throw new Error(`no line starting with ${JSON.stringify(prefix)}: ${err.message}`);
  });
  return example.output().split('\n').filter((line) => line.startsWith(prefix));
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

/**
 * Runs the example's `npm start` on a port another server holds: it must fail saying the address
 * is in use, not print that it listens (Express 5 hands a listen error to the callback).
 */
export async function failsOnPortInUse(name: string): Promise<void> {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = (taken.address() as AddressInfo).port;
    const second = runInExample(name, ['npm', 'start'], { env: { PORT: String(port), PROVIDER_API_KEY: STAND_IN_KEY }, timeoutMs: 30_000 });
    await expect(second).rejects.toThrow(`EADDRINUSE: address already in use 127.0.0.1:${port}`);
    await expect(second).rejects.not.toThrow('listening on');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
}
