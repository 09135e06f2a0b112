/** Runs the `tokenlay` bin from the sources in a child process, as a user would from a shell. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { watchPrinted, type Printed } from '../support/printed.js';
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
  /** Its standard output and error, to await a line as it is printed. */
  out: Printed;
  err: Printed;
}

export function spawnCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Cli {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  for (const name of Object.keys(env)) if (name.startsWith('TOKENLAY_') && !(opts.env && name in opts.env)) delete env[name];
  const proc = spawn(process.execPath, ['--import', tsx, bin, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = watchPrinted([proc.stdout!]);
  const err = watchPrinted([proc.stderr!]);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, stdout: out.text, stderr: err.text, exited, out, err };
}

/** Runs a command to its end. */
export async function runCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = spawnCli(args, opts);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Starts `tokenlay gateway` and waits for its "listening on" line. */
export async function startGatewayCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<Cli & { url: string }> {
  const cli = spawnCli(['gateway', ...args], opts);
  const m = await cli.out.until(/tokenlay gateway listening on (http:\/\/\S+)/, 20_000).catch((err: Error) => {
    throw new Error(`gateway did not start: ${err.message}\nstderr: ${cli.stderr()}`);
  });
  return { ...cli, url: m[1]! };
}
