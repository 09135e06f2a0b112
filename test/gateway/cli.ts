/** Runs the `tokenlay` bin from the sources in a child process, as a user would from a shell. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onCleanup } from './support.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'src', 'cli', 'main.ts');
// The cwd is a temp folder, so tsx is named by its path.
const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface Cli {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export function spawnCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Cli {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  for (const name of Object.keys(env)) if (name.startsWith('TOKENLAY_') && !(opts.env && name in opts.env)) delete env[name];
  const proc = spawn(process.execPath, ['--import', tsx, bin, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c) => (out += String(c)));
  proc.stderr!.on('data', (c) => (err += String(c)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** Runs a command to its end. */
export async function runCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = spawnCli(args, opts);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/**
 * Resolves with the match once the child's `stream` (default stdout) has printed a line matching
 * `pattern`; rejects when the child exits first or after `ms` (default 20 s), with what it printed.
 */
export function printed(cli: Cli, pattern: RegExp, opts: { stream?: 'stdout' | 'stderr'; ms?: number } = {}): Promise<RegExpExecArray> {
  const which = opts.stream ?? 'stdout';
  const ms = opts.ms ?? 20_000;
  const text = which === 'stdout' ? cli.stdout : cli.stderr;
  const source = cli.proc[which]!;
  return new Promise((resolve, reject) => {
    const done = () => {
      source.off('data', check);
      cli.proc.off('close', exited);
      clearTimeout(timer);
    };
    // Its own listener comes after the one that collects the text, so the text is current here.
    const check = () => {
      const m = pattern.exec(text());
      if (!m) return;
      done();
      resolve(m);
    };
    // 'close' comes once the child has exited and its output has all been read.
    const exited = () => {
      const m = pattern.exec(text());
      done();
      if (m) resolve(m);
      else reject(new Error(`the command exited ${cli.proc.exitCode ?? cli.proc.signalCode} before printing ${pattern} on ${which}: ${cli.stderr()}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the command did not print ${pattern} on ${which} within ${ms} ms; stdout: ${cli.stdout()} stderr: ${cli.stderr()}`));
    }, ms);
    source.on('data', check);
    cli.proc.once('close', exited);
    if (source.readableEnded) exited();
    else check();
  });
}

/** Starts `tokenlay gateway` and waits for its "listening on" line. */
export async function startGatewayCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<Cli & { url: string }> {
  const cli = spawnCli(['gateway', ...args], opts);
  const m = await printed(cli, /tokenlay gateway listening on (http:\/\/\S+)/).catch((err: Error) => {
    throw new Error(`gateway did not start: ${err.message}`);
  });
  return { ...cli, url: m[1]! };
}
