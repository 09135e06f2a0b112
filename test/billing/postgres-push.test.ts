/**
 * Billing from a PostgreSQL ledger: the cursor, what was pushed and what was held live in the same
 * database; a kill -9 mid-batch and a restart bill every row once at the Stripe stand-in.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openPostgresBillingLedger } from '../../src/billing/postgres-ledger.js';
import { createPostgresLedger } from '../../src/store/postgres.js';
import { isBlocked } from '../../src/store/usage-breakdown.js';
import { eventually } from '../support/gate.js';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { POSTGRES_URL, usePostgresSchemas } from '../store/services.js';
import { useTempDirs } from '../store/temp-dir.js';
import { fixtureRows, runCli, startCli, writeLedger } from './ledger-fixture.js';

const KEY = 'sk_test_51PostgresBillingStandIn000000000000';
const schemas = usePostgresSchemas();
const tempDir = useTempDirs();
let standIn: StripeStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

describe('tokenlay billing push from a PostgreSQL ledger', () => {
  it('bills every row exactly once across a kill -9 mid-batch, with the call id as identifier', async () => {
    const schema = schemas();
    const rows = fixtureRows(24);
    const ledger = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: false });
    await ledger.ready();
    for (const r of rows) ledger.record(r);
    await ledger.close();
    // The customers and rules files of the SQLite fixture (its database is not used).
    const files = await writeLedger(tempDir(), []);
    const url = `${POSTGRES_URL}?schema=${schema}`;
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    const args = ['billing', 'push', '--to', 'stripe', '--ledger', url, '--customers', files.customers, '--rules', files.rules, '--batch', '8'];
    standIn.holdAfter(8 + 3);
    const first = startCli(args, env);
    await eventually(() => standIn!.held() >= 2, 'the pusher to wait on its second batch', 30_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    standIn.release();
    const second = await runCli(args, env);
    expect(second.code).toBe(0);

    const billing = await openPostgresBillingLedger(POSTGRES_URL, schema);
    const all = await billing.rowsAfter(0, 1000);
    const held = await billing.held('stripe', 0, Date.now() + 1);
    await billing.close();
    const billable = all.filter(({ row }) => !isBlocked(row) && row.fields.user !== 'dave' && row.modelUsed !== 'acme-private-llm');
    expect(billable).toHaveLength(rows.filter((r) => !isBlocked(r)).length - 2);
    expect(all.every((r) => /^[0-9a-f-]{36}$/.test(r.id))).toBe(true);
    expect(standIn.events.map((e) => e.identifier).sort()).toEqual(billable.map((r) => r.id).sort());
    expect(new Set(standIn.events.map((e) => e.identifier)).size).toBe(standIn.events.length);
    // The batch sent again got Stripe's first answers back (same Idempotency-Keys).
    expect(standIn.requests.some((q) => q.replayed)).toBe(true);
    expect(held.map((h) => h.reason).sort()).toEqual(['no customer', 'unpriced model']);
  }, 90_000);
});
