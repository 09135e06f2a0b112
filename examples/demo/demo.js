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
 *   npm run demo -- --keep-ledger # keep the SQLite ledger (removed with its folder otherwise)
 *
 * With no PROVIDER_API_KEY the calls go to a local stand-in (./stand-in.js); with PROVIDER_API_KEY
 * (and PROVIDER_API_BASE for a provider other than OpenAI) they go to that provider.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore, DEFAULT_PROVIDER_API_BASE, TokenlayOpenAI } from 'tokenlay';
import { tokenlayDashboard } from 'tokenlay/dashboard';
import { createApp, USERS } from './app.js';
import { usageTable } from './report.js';
import { startStandIn } from './stand-in.js';
import { widthOf, wrap } from './terminal.js';
import { runTraffic } from './traffic.js';

const RULES = fileURLToPath(new URL('./tokenlay.rules.yaml', import.meta.url));
const FLAGS = ['--no-serve', '--keep-ledger'];

/** Prints `text` wrapped at the terminal's width (whole off a terminal). */
const print = (text = '') => console.log(text.split('\n').map((line) => wrap(line, widthOf(process.stdout), 2).join('\n')).join('\n'));

/** Listens on PORT (default 3000); when 3000 is taken and no PORT was asked for, on a free port. */
async function listen(app) {
  const asked = process.env.PORT || undefined; // an empty PORT is no PORT
  if (asked !== undefined && !/^\d{1,5}$/.test(asked)) {
    throw new Error(`PORT is ${JSON.stringify(asked)}, not a port number; PORT=3001 npm run demo picks another, and without PORT the demo uses 3000 or a free one.`);
  }
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
    print(`(Port 3000 is in use; the app listens on ${server.address().port} instead. PORT=… picks one.)`);
    return server;
  }
}

async function main() {
  const unknown = process.argv.slice(2).filter((arg) => !FLAGS.includes(arg));
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')}; the demo takes ${FLAGS.join(', ')} (npm run demo -- --no-serve)`);
  const serve = !process.argv.includes('--no-serve');
  const keep = process.argv.includes('--keep-ledger');
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
      // A fresh ledger each run, and none left behind unless asked for.
      if (!keep) rmSync(folder, { recursive: true, force: true });
    })());
  const left = () => (keep ? `The ledger stays in ${database}.` : 'The ledger was removed with its folder (npm run demo -- --keep-ledger keeps it).');

  // Ctrl-C (or a SIGTERM) at any point stops the demo cleanly: the engine settles what is in
  // flight and writes the ledger before the process ends.
  const interrupted = new Promise((resolve) => {
    process.once('SIGINT', () => resolve('interrupted'));
    process.once('SIGTERM', () => resolve('interrupted'));
  });

  try {
    server = await listen(app);
    const url = `http://127.0.0.1:${server.address().port}`;
    print('tokenlay demo: an Express app with tokenlay() and the policy engine embedded in it.');
    print(
      standIn
        ? `Provider: the local stand-in at ${standIn.base} (PROVIDER_API_KEY is not set): canned answers, with usage that grows with the prompt.`
        : `Provider: ${process.env.PROVIDER_API_BASE || DEFAULT_PROVIDER_API_BASE}, with your PROVIDER_API_KEY: real calls, billed by that provider.`,
    );
    print(`Rules: ${RULES} (free, pro and enterprise plans)`);
    print(`Ledger and counters: SQLite at ${database}`);
    print(`App: ${url}\n`);

    const traffic = runTraffic(url, USERS, { tty });
    traffic.catch(() => {}); // when interrupted, its requests fail as the app stops; nobody waits for them
    if ((await Promise.race([traffic, interrupted])) === 'interrupted') {
      await stop();
      print('\nInterrupted. ' + left());
      return;
    }
    console.log('Usage per user, from the ledger:');
    console.log(await usageTable(store, { tty, width: widthOf(process.stdout) }));

    if (!serve) {
      await stop();
      if (keep) print(left());
      return;
    }
    print(`\nDashboard: ${url}/dashboard/`);
    print('Serving the app and its dashboard on the same ledger; Ctrl-C stops.');
    await interrupted;
    print('\nStopping: settling calls in flight and writing the ledger…');
    await stop();
    print(`Stopped. ${left()}`);
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
