// `npm start`: the two services of this example in one terminal. In production they run apart;
// the `tokenlay` command lines below are the ones you would deploy.
//   1. a tenant key, made once with `tokenlay keys create`;
//   2. `tokenlay gateway` with the rules of two plans;
//   3. the app (app.js), once the gateway listens, with the key and the gateway's URL.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const dataDir = process.env.DATA_DIR ?? '.tokenlay';
const gatewayPort = process.env.GATEWAY_PORT ?? '8787';
// Counters, ledger and keys in one SQLite file, the gateway's default layout.
const db = join(dataDir, 'usage.db');
const keyFile = join(dataDir, 'tenant.key');

// `npm start` puts node_modules/.bin on PATH: `tokenlay` is the installed package's own command.
const TOKENLAY = 'tokenlay';

// Each key is an account (a tenant). The gateway keeps only its hash and `keys create` prints it
// once, so it is kept here, readable by you alone.
if (!existsSync(keyFile)) {
  mkdirSync(dataDir, { recursive: true });
  const printed = execFileSync(TOKENLAY, ['keys', 'create', '--name', 'acme', '--keys', db], { encoding: 'utf8' });
  writeFileSync(keyFile, `${printed.trim().split('\n').at(-1)}\n`, { mode: 0o600 });
  console.log(`Created the tenant key "acme" in ${keyFile}.`);
}
const tenantKey = readFileSync(keyFile, 'utf8').trim();

const gatewayArgs = ['gateway', '--rules', 'tokenlay.rules.yaml', '--port', gatewayPort, '--store', `sqlite:${db}`, '--keys', db];
// Callers name the provider's base on each call; the gateway calls only bases on its allowlist
// (OpenAI, Anthropic, Groq… by default). A PROVIDER_API_BASE of your own is allowed instead.
if (process.env.PROVIDER_API_BASE) gatewayArgs.push('--allow-provider-base', process.env.PROVIDER_API_BASE);

const children = new Set();
let stopping = false;

/** Starts a service in its own process group, so that a signal reaches it once: from stop(). */
function service(name, command, args, env = process.env) {
  const child = spawn(command, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => console.log(`[${name}] ${line}`));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!stopping) {
      console.error(`[${name}] exited (${signal ?? code}); stopping the others.`);
      stop('SIGTERM', code || 1);
    } else if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
  return child;
}

function stop(signal, exitCode = 0) {
  stopping = true;
  process.exitCode ??= exitCode;
  if (children.size === 0) process.exit(process.exitCode);
  // The gateway finishes the calls in flight and writes its ledger before it exits.
  for (const child of children) child.kill(signal);
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

const gateway = service('gateway', TOKENLAY, gatewayArgs);
// The gateway prints this line on standard output before any log line.
const gatewayUrl = await new Promise((resolve) => {
  createInterface({ input: gateway.stdout }).on('line', (line) => {
    const listening = /^tokenlay gateway listening on (\S+)/.exec(line);
    if (listening) resolve(listening[1]);
  });
});

service('app', process.execPath, ['app.js'], { ...process.env, TOKENLAY_KEY: tenantKey, TOKENLAY_BASE_URL: gatewayUrl });
