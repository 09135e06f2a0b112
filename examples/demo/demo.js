/**
 * `npm run demo`: tokenlay in one process, with no server to install and no key.
 *
 * An Express app (./app.js) with `tokenlay()` and one shared `TokenlayOpenAI` in embedded mode: the
 * policy engine runs in the app, with three plans (./tokenlay.rules.yaml) and its counters and
 * ledger in SQLite. Three users sign in and use it; the table at the end is read from the ledger;
 * then the dashboard is served on that same ledger until Ctrl-C.
 *
 *   npm run demo                  # …and open the dashboard URL it prints
 *   npm run demo -- --no-serve    # exit after the table
 *
 * With no PROVIDER_API_KEY the calls go to a local stand-in (./stand-in.js); with PROVIDER_API_KEY
 * (and PROVIDER_API_BASE for a provider other than OpenAI) they go to that provider.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore, DEFAULT_PROVIDER_API_BASE, TokenlayOpenAI } from 'tokenlay';
import { tokenlayDashboard } from 'tokenlay/dashboard';
import { createApp, USERS } from './app.js';
import { usageTable } from './report.js';
import { startStandIn } from './stand-in.js';
import { runTraffic } from './traffic.js';

const RULES = fileURLToPath(new URL('./tokenlay.rules.yaml', import.meta.url));
const FLAGS = ['--no-serve'];

/** Listens on PORT (default 3000); when 3000 is taken and no PORT was asked for, on a free port. */
async function listen(app) {
  const asked = process.env.PORT;
  const tryPort = (port) =>
    new Promise((resolve, reject) => {
      const server = app.listen(port, '127.0.0.1');
      server.once('listening', () => resolve(server));
      server.once('error', reject);
    });
  try {
    return await tryPort(Number(asked ?? 3000));
  } catch (error) {
    if (asked !== undefined || error.code !== 'EADDRINUSE') throw error;
    const server = await tryPort(0);
    console.log(`(Port 3000 is in use; the app listens on ${server.address().port} instead. PORT=… picks one.)`);
    return server;
  }
}

async function main() {
  const unknown = process.argv.slice(2).filter((arg) => !FLAGS.includes(arg));
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')}; the demo takes ${FLAGS.join(', ')} (npm run demo -- --no-serve)`);
  const serve = !process.argv.includes('--no-serve');
  const tty = Boolean(process.stdout.isTTY);

  const standIn = process.env.PROVIDER_API_KEY ? undefined : await startStandIn();
  const folder = mkdtempSync(join(tmpdir(), 'tokenlay-demo-'));
  const database = join(folder, 'usage.db');
  // One store object for the engine and the dashboard: the counters and the ledger in one file.
  const store = createStore(`sqlite:${database}`);
  // No tokenlayKey: the policy engine runs in this process. Without options for the provider,
  // TokenlayOpenAI reads PROVIDER_API_KEY and PROVIDER_API_BASE from the environment.
  const openai = new TokenlayOpenAI({ policy: RULES, store, ...(standIn ? { providerApiKey: 'stand-in', providerApiBase: standIn.base } : {}) });
  const app = createApp({ openai, dashboard: tokenlayDashboard({ store, rules: RULES }) });

  let server;
  let stopping;
  const stop = () =>
    (stopping ??= (async () => {
      if (server) {
        // Requests in flight get their answers (for up to 10 s); keep-alive connections close as
        // soon as they are idle, rather than when the client's keep-alive runs out.
        const closed = new Promise((resolve) => server.close(() => resolve(undefined)));
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const force = setTimeout(() => server.closeAllConnections(), 10_000);
        await closed;
        clearInterval(idle);
        clearTimeout(force);
      }
      // Waits for LLM calls in flight to settle and writes the rest of the ledger; then the store can close.
      await openai.close();
      await store.close();
      await standIn?.close();
    })());

  // Ctrl-C (or a SIGTERM) at any point stops the demo cleanly: the engine settles what is in
  // flight and writes the ledger before the process ends.
  const interrupted = new Promise((resolve) => {
    process.once('SIGINT', () => resolve('interrupted'));
    process.once('SIGTERM', () => resolve('interrupted'));
  });

  try {
    server = await listen(app);
    const url = `http://127.0.0.1:${server.address().port}`;
    console.log('tokenlay demo: an Express app with tokenlay() and the policy engine embedded in it.');
    console.log(
      standIn
        ? `Provider: the local stand-in at ${standIn.base} (PROVIDER_API_KEY is not set): canned answers, with usage that grows with the prompt.`
        : `Provider: ${process.env.PROVIDER_API_BASE || DEFAULT_PROVIDER_API_BASE}, with your PROVIDER_API_KEY: real calls, billed by that provider.`,
    );
    console.log(`Rules: ${RULES} (free, pro and enterprise plans)`);
    console.log(`Ledger and counters: SQLite at ${database}`);
    console.log(`App: ${url}\n`);

    const traffic = runTraffic(url, USERS, { tty });
    traffic.catch(() => {}); // when interrupted, its requests fail as the app stops; nobody waits for them
    if ((await Promise.race([traffic, interrupted])) === 'interrupted') {
      await stop();
      console.log('\nInterrupted; the ledger so far is in ' + database + '.');
      return;
    }
    console.log('Usage per user, from the ledger:');
    console.log(await usageTable(store, { tty }));

    if (!serve) return await stop();
    console.log(`\nDashboard: ${url}/dashboard/`);
    console.log('Serving the app and its dashboard on the same ledger; Ctrl-C stops.');
    await interrupted;
    console.log('\nStopping: settling calls in flight and writing the ledger…');
    await stop();
    console.log(`Stopped. The ledger stays in ${database}.`);
  } catch (error) {
    await stop().catch(() => {});
    if (!standIn) error.message += '\nPROVIDER_API_KEY and PROVIDER_API_BASE choose the provider; without PROVIDER_API_KEY the demo uses its local stand-in.';
    throw error;
  }
}

main().catch((error) => {
  console.error(`The demo stopped: ${error.message}`);
  process.exitCode = 1;
});
