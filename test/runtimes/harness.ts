// Bundles the runtime test app and serves it on Bun, Deno or workerd, from the binaries their npm
// packages install (bun, deno, workerd). Each server listens on 127.0.0.1 only.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..', '..');
export type RuntimeName = 'bun' | 'deno' | 'workerd';

export interface RunningApp {
  url: string;
  output(): string;
  close(): Promise<void>;
}

const alias = { tokenlay: join(root, 'src', 'index.ts'), 'tokenlay/hono': join(root, 'adapters', 'hono.ts') };

/** One ES module of the app and everything it imports, as a user's bundler would make it. */
async function bundle(entry: string, outfile: string, forWorkers: boolean): Promise<void> {
  await build({
    entryPoints: [join(import.meta.dirname, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    // For Workers: the browser platform fails the build on any Node built-in other than the one
    // nodejs_als provides, which is the check that the root entry loads nothing else.
    platform: forWorkers ? 'browser' : 'node',
    conditions: forWorkers ? ['workerd', 'worker', 'browser'] : [],
    external: forWorkers ? ['node:async_hooks'] : [],
    // Bun and Deno load npm packages themselves, from this project's node_modules, as in an app.
    packages: forWorkers ? undefined : 'external',
    alias,
    logLevel: 'error',
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

async function waitUntil(what: string, ready: () => Promise<string | undefined>, child: ChildProcess, log: () => string): Promise<string> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before listening:\n${log()}`);
    const url = await ready();
    if (url) return url;
    // Polled (bounded above): workerd prints no line when ready; answering HTTP is what ready means.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen within 20 s:\n${log()}`);
}

/**
 * Serves the app on `runtime`. `flags` are workerd compatibility flags (`nodejs_als` or
 * `nodejs_compat`).
 */
export async function serveApp(runtime: RuntimeName, env: Record<string, string>, flags: string[] = ['nodejs_als']): Promise<RunningApp> {
  // Under the project, so that Bun and Deno resolve npm packages from its node_modules.
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(root, '.tmp', `runtime-${runtime}-`));
  const bin = join(root, 'node_modules', '.bin', runtime);
  let child: ChildProcess;
  let port: number | undefined;
  if (runtime === 'workerd') {
    await bundle('worker-entry.ts', join(dir, 'worker.js'), true);
    port = await freePort();
    const bindings = Object.entries(env).map(([name, text]) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(text)})`);
    writeFileSync(
      join(dir, 'config.capnp'),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .app),
    # Outbound calls may reach this machine's loopback only: the provider stand-in.
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const app :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ${JSON.stringify(flags)},
  globalOutbound = "loopback",
  bindings = [ ${bindings.join(', ')} ],
);
`,
    );
    child = spawn(bin, ['serve', join(dir, 'config.capnp')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    const out = join(dir, 'app.mjs');
    await bundle(`${runtime}-entry.ts`, out, false);
    const args = runtime === 'bun' ? ['run', out] : ['run', '--allow-net=127.0.0.1', '--allow-env', `--allow-read=${root}`, '--no-prompt', out];
    child = spawn(bin, args, { cwd: dir, env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = await waitUntil(
    runtime,
    async () => {
      if (port === undefined) {
        const m = /listening (\d+)/.exec(log);
        return m ? `http://127.0.0.1:${m[1]}` : undefined;
      }
      try {
        await fetch(`http://127.0.0.1:${port}/`);
        return `http://127.0.0.1:${port}`;
      } catch {
        return undefined;
      }
    },
    child,
    () => log,
  ).catch(async (err) => {
    await stopped(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    url,
    output: () => log,
    async close() {
      await stopped(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
