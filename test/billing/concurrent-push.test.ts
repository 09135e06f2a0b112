/**
 * Two `tokenlay billing push --to stripe` on the same SQLite ledger at once, and rows written to the
 * ledger while a push runs: every row billed once, none passed over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteBillingLedger } from '../../src/billing/sqlite-ledger.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { isBlocked } from '../../src/store/usage-breakdown.js';
import type { LedgerRow } from '../../src/store/types.js';
import { eventually } from '../support/gate.js';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { useTempDirs } from '../store/temp-dir.js';
import { fixtureRows, runCli, startCli, writeLedger } from './ledger-fixture.js';

const KEY = 'sk_test_51TokenlayStandInKey0000000000000000';
const tempDir = useTempDirs();
let standIn: StripeStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});
const billable = (r: LedgerRow) => !isBlocked(r) && r.fields.user !== 'dave' && r.modelUsed !== 'acme-private-llm';
const args = (files: { db: string; customers: string; rules: string }) => ['billing', 'push', '--to', 'stripe', '--store', `sqlite:${files.db}`, '--customers', files.customers, '--rules', files.rules, '--batch', '7'];

async function ledgerState(db: string) {
  const ledger = openSqliteBillingLedger(db);
  try {
    const ids = (await ledger.rowsAfter(0, 1000)).map((r) => r.id);
    const pushed = await ledger.pushed('stripe', 0, Date.now() + 86_400_000);
    return { ids, pushed, cursor: await ledger.cursor('stripe') };
  } finally {
    await ledger.close();
  }
}

describe('tokenlay billing push --to stripe, concurrently', () => {
  it('two pushers at once on one ledger bill each row once, and both finish', async () => {
    const rows = fixtureRows(40);
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    const [a, b] = await Promise.all([runCli(args(files), env), runCli(args(files), env)]);
    expect(a.code, a.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    const { ids, pushed, cursor } = await ledgerState(files.db);
    const expected = rows.map((r, i) => ({ r, id: ids[i]! })).filter(({ r }) => billable(r)).map(({ id }) => id).sort();
    expect(standIn.events.map((e) => e.identifier).sort()).toEqual(expected);
    expect(pushed.map((p) => p.id).sort()).toEqual(expected);
    expect(cursor).toBe(rows.length);
  }, 90_000);

  it('rows written while a push waits on Stripe are billed by the next push, once', async () => {
    const first = fixtureRows(20);
    const files = await writeLedger(tempDir(), first);
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    standIn.holdAfter(3);
    const push = startCli(args(files), env);
    await eventually(() => standIn!.held() >= 1, 'the push to wait on Stripe', 30_000);
    const later = fixtureRows(10).slice(0, 10).map((r) => ({ ...r, time: Date.now() - 1000 }));
    const store = createSqliteStore({ path: files.db });
    for (const r of later) store.record(r);
    await store.close();
    standIn.release();
    expect(await push.exited, push.output()).toBe(0);
    const again = await runCli(args(files), env);
    expect(again.code, again.output).toBe(0);
    const all = [...first, ...later];
    const { ids, cursor } = await ledgerState(files.db);
    expect(ids).toHaveLength(all.length);
    const expected = all.map((r, i) => ({ r, id: ids[i]! })).filter(({ r }) => billable(r)).map(({ id }) => id).sort();
    expect(standIn.events.map((e) => e.identifier).sort()).toEqual(expected);
    expect(cursor).toBe(all.length);
  }, 90_000);
});
