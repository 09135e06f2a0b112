/**
 * Rows held back are listed, and sent once what held them is fixed: a price for the model in the
 * rules file, a customer for the user in the customers file. Each is billed once, at the price
 * given since, and reconcile then has nothing to report.
 */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteBillingLedger } from '../../src/billing/sqlite-ledger.js';
import { formatUsd, costUnits } from '../../src/store/money.js';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { POSTGRES_URL, usePostgresSchemas } from '../store/services.js';
import { createPostgresLedger } from '../../src/store/postgres.js';
import { openPostgresBillingLedger } from '../../src/billing/postgres-ledger.js';
import { useTempDirs } from '../store/temp-dir.js';
import { CUSTOMERS, RULES_YAML, fixtureRows, runCli, writeLedger } from './ledger-fixture.js';

const KEY = 'sk_test_51HeldRowsStandIn0000000000000000000';
const tempDir = useTempDirs();
const schemas = usePostgresSchemas();
let standIn: StripeStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

describe('tokenlay billing push: rows held back', () => {
  it('sends a held row once its model has a price and its user a customer, at the price given, and never twice', async () => {
    const now = Date.now();
    // One call older than Stripe's 35 days: held for good, and not listed again as fixable.
    const old = { ...fixtureRows(1, now - 40 * 86_400_000)[0]!, fields: { user: 'bob', org: 'bob-org', plan: 'free' } };
    const rows = [old, ...fixtureRows(6, now)];
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    const args = ['billing', 'push', '--to', 'stripe', '--store', `sqlite:${files.db}`, '--customers', files.customers, '--rules', files.rules, '--batch', '4'];

    const first = await runCli(args, env);
    expect(first.code).toBe(0);
    expect(first.output).toMatch(/3 held back/);
    expect(first.output).toMatch(/held back: \S+ \S+ older than 35 days/);
    expect(first.output).toMatch(/held back: \S+ \S+ unpriced model: acme-private-llm/);
    expect(first.output).toMatch(/held back: \S+ \S+ no customer: user=dave/);
    const sentFirst = standIn.events.length;

    // Nothing fixed: the held rows stay held and are not sent.
    const again = await runCli(args, env);
    expect(again.code).toBe(0);
    expect(standIn.events).toHaveLength(sentFirst);
    expect(again.output).toMatch(/2 calls held back before are still held/);
    expect(again.output).toMatch(/still held back: \S+ \S+ unpriced model: acme-private-llm/);
    expect(again.output).not.toMatch(/older than 35 days/);

    // The team prices its model (carol is enterprise: markup 1.15) and gives dave a customer.
    writeFileSync(files.rules, `${RULES_YAML}prices:\n  acme-private-llm: { input: 2, output: 8 }\n`);
    writeFileSync(files.customers, JSON.stringify({ ...CUSTOMERS, dave: 'cus_Dave0004' }));
    const fixed = await runCli(args, env);
    expect(fixed.code).toBe(0);
    expect(fixed.output).toMatch(/2 held back before sent/);
    expect(standIn.events).toHaveLength(sentFirst + 2);
    const ledger = openSqliteBillingLedger(files.db);
    const ids = (await ledger.rowsAfter(0, 100)).map((r) => r.id);
    expect((await ledger.held('stripe', 0, now + 1)).map((h) => h.reason)).toEqual(['older than 35 days']);
    await ledger.close();
    const acme = rows.findIndex((r) => r.modelUsed === 'acme-private-llm');
    const dave = rows.findIndex((r) => r.fields.user === 'dave');
    const acmeEvent = standIn.events.find((e) => e.identifier === ids[acme])!;
    // 120 in, 30 out at $2 / $8 per million = $0.00048, times 1.15.
    expect(acmeEvent.payload).toEqual({ stripe_customer_id: CUSTOMERS.carol, value: formatUsd((BigInt(costUnits(0.00048)) * 115n + 50n) / 100n) });
    expect(standIn.events.find((e) => e.identifier === ids[dave])!.payload.stripe_customer_id).toBe('cus_Dave0004');

    // Sent once: a fourth run sends nothing, and reconcile finds every row pushed.
    const requests = standIn.requests.length;
    const fourth = await runCli(args, env);
    expect(fourth.code).toBe(0);
    expect(standIn.requests.length).toBe(requests);
    const day = 86_400_000;
    const rec = await runCli(['billing', 'reconcile', '--from', new Date(now - day).toISOString(), '--to', new Date(now + day).toISOString(), '--store', `sqlite:${files.db}`, '--customers', files.customers, '--rules', files.rules, '--json']);
    expect(rec.code).toBe(0);
    expect((JSON.parse(rec.output) as { differences: unknown[] }).differences).toEqual([]);
  }, 90_000);

  it('does the same on a PostgreSQL ledger: the held row goes once its model is priced', async () => {
    const schema = schemas();
    const now = Date.now();
    const rows = fixtureRows(3, now);
    const pg = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: false });
    await pg.ready();
    for (const r of rows) pg.record(r);
    await pg.close();
    const files = await writeLedger(tempDir(), []);
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    const url = `${POSTGRES_URL}?schema=${schema}`;
    const args = ['billing', 'push', '--to', 'stripe', '--ledger', url, '--customers', files.customers, '--rules', files.rules, '--batch', '2'];
    expect((await runCli(args, env)).output).toMatch(/held back: \S+ \S+ unpriced model: acme-private-llm/);
    const sent = standIn.events.length;
    writeFileSync(files.rules, `${RULES_YAML}prices:\n  acme-private-llm: { input: 2, output: 8 }\n`);
    const fixed = await runCli(args, env);
    expect(fixed.output).toMatch(/1 held back before sent now/);
    expect(standIn.events).toHaveLength(sent + 1);
    expect((await runCli(args, env)).code).toBe(0);
    expect(standIn.events).toHaveLength(sent + 1);
    const ledger = await openPostgresBillingLedger(POSTGRES_URL, schema);
    const held = await ledger.held('stripe', 0, now + 1);
    const pushed = await ledger.pushed('stripe', 0, now + 1);
    await ledger.close();
    expect(held.map((h) => h.detail)).toEqual(['user=dave']);
    expect(pushed).toHaveLength(sent + 1);
  }, 90_000);
});
