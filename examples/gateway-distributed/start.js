// `npm start`: two `tokenlay gateway` processes sharing one Redis (the counters) and one PostgreSQL
// (the ledger and the tokenlay keys), so that a user's limit is one limit whichever gateway a call
// reaches. Behind a load balancer they would share one address; here they answer on two ports.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// The services of docker-compose.yml, unless you name your own.
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://tokenlay:tokenlay@127.0.0.1:5432/tokenlay';
const dataDir = process.env.DATA_DIR ?? '.tokenlay';
const firstPort = Number(process.env.PORT ?? 8787);
const ports = [firstPort, Number(process.env.PORT2 ?? firstPort + 1)];

const hidePassword = (url) => url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
console.log(`Counters in ${hidePassword(redisUrl)}; ledger and keys in ${hidePassword(databaseUrl)}.`);

const running = new Set();
let stopping = false;

ports.forEach((port, i) => {
  const name = `gateway ${i + 1}`;
  const args = [
    'gateway',
    '--rules', 'tokenlay.rules.yaml',
    '--port', String(port),
    '--store', redisUrl, // admission and settlement: one Lua script each, atomic across gateways
    '--ledger', databaseUrl, // a row per call; keys made with `tokenlay keys create --ledger` too
    // Rows reach a local spool file first and PostgreSQL in batches, so a crash loses none. One
    // spool per gateway: each locks its own.
    '--ledger-spool', join(dataDir, `gateway-${i + 1}.spool`),
    // While Redis is down, refuse calls (503) rather than admit them uncounted ('open').
    '--on-store-error', 'closed',
  ];
  // Callers name the provider's base; a gateway calls only the bases on its allowlist.
  if (process.env.PROVIDER_API_BASE) args.push('--allow-provider-base', process.env.PROVIDER_API_BASE);

  // `npm start` puts node_modules/.bin on PATH. Its own process group: a signal reaches it once, from below.
  const gateway = spawn('tokenlay', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(gateway);
  for (const output of [gateway.stdout, gateway.stderr]) createInterface({ input: output }).on('line', (line) => console.log(`[${name}] ${line}`));
  gateway.on('exit', (code, signal) => {
    running.delete(gateway);
    if (!stopping) {
      console.error(`[${name}] exited (${signal ?? code}); stopping the other one.`);
      shutDown('SIGTERM', 1);
    }
    if (running.size === 0) process.exit();
  });
});

/** Each gateway finishes its calls in flight and writes its spool to PostgreSQL, then exits. */
function shutDown(signal, code = 0) {
  stopping = true;
  process.exitCode ??= code;
  for (const gateway of running) gateway.kill(signal);
}
process.on('SIGINT', () => shutDown('SIGINT'));
process.on('SIGTERM', () => shutDown('SIGTERM'));
