/**
 * `npx tsx bench/billing.bench.ts`: how fast `pushLedger` bills a SQLite ledger, per destination,
 * in the same run: Stripe meter events through the real `stripe` package (one request per call, 8
 * at a time) against the local stand-in, and CloudEvents batches against the local receiver.
 * Prints rows/s and CPU µs per row (this process: the pusher and the stand-ins together).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRules } from '../src/billing/classify.js';
import { createCloudEventsDestination } from '../src/billing/cloudevents.js';
import { customerMapping } from '../src/billing/customers.js';
import { pushLedger } from '../src/billing/push.js';
import { openSqliteBillingLedger } from '../src/billing/sqlite-ledger.js';
import { createStripeDestination, STRIPE_CUSTOMER } from '../src/billing/stripe.js';
import type { Destination } from '../src/billing/types.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { startCloudEventsReceiver } from '../test/support/cloudevents.js';
import { startStripeStandIn } from '../test/support/stripe.js';

const ROWS = Number(process.env.ROWS ?? 2000);
const KEY = 'sk_test_51BenchStandIn0000000000000000000000';

async function ledgerOf(dir: string): Promise<string> {
  const path = join(dir, 'usage.db');
  const store = createSqliteStore({ path });
  const now = Date.now();
  for (let i = 0; i < ROWS; i++) {
    store.record({ time: now - (ROWS - i) * 10, fields: { user: `cus_U${i % 50}`, plan: 'pro' }, modelRequested: 'gpt-4o-mini', modelUsed: 'gpt-4o-mini', endpoint: '/v1/chat/completions',
      inputTokens: 100 + i, outputTokens: 20, cachedTokens: 0, cost: 0.00003, ruleId: null, action: 'allow', status: 200, latencyMs: 50, estimated: false });
  }
  await store.close();
  return path;
}

async function measure(name: string, destination: Destination): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-bench-billing-'));
  try {
    const ledger = openSqliteBillingLedger(await ledgerOf(dir));
    const plan = { value: 'cost' as const, customers: customerMapping('user', undefined, STRIPE_CUSTOMER), ...fromRules(undefined) };
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const report = await pushLedger(ledger, destination, plan, { batchSize: 100 });
    const ms = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    await ledger.close();
    if (report.pushed !== ROWS) throw new Error(`${name}: pushed ${report.pushed} of ${ROWS}`);
    console.log(`${name.padEnd(34)} ${ROWS} rows  ${Math.round((ROWS / ms) * 1000)} rows/s  ${Math.round((used.user + used.system) / ROWS)} CPU µs/row`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const stripe = await startStripeStandIn(KEY);
const receiver = await startCloudEventsReceiver();
try {
  await measure('stripe meter events (8 at a time)', createStripeDestination({ apiKey: KEY, eventName: 'bench', apiBase: stripe.url }));
  await measure('cloudevents batches of 100', createCloudEventsDestination({ url: receiver.url, type: 'bench' }));
} finally {
  await stripe.close();
  await receiver.close();
}
