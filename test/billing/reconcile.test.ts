/** `tokenlay billing reconcile --from DATE --to DATE [--json]`: per customer, ledger against pushed, and every difference. */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { costUnits, formatUsd } from '../../src/store/money.js';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { useTempDirs } from '../store/temp-dir.js';
import { CUSTOMERS, fixtureRows, runCli, writeLedger } from './ledger-fixture.js';

const KEY = 'sk_test_51ReconcileStandIn000000000000000000';
const tempDir = useTempDirs();
let standIn: StripeStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

interface Json {
  destination: string;
  customers: Array<{ customer: string; ledger: string; pushed: string; difference: string; rows: number; pushedRows: number }>;
  total: { ledger: string; pushed: string; difference: string };
  differences: Array<{ id: string; customer: string; kind: string; ledger: string | null; pushed: string | null }>;
}

describe('tokenlay billing reconcile', () => {
  it('sets each customer’s ledger total against what Stripe accepted, and lists rows not pushed yet, held back, or pushed with another value', async () => {
    const now = Date.now();
    const rows = fixtureRows(9, now);
    const dir = tempDir();
    const files = await writeLedger(dir, rows);
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    const common = ['--store', `sqlite:${files.db}`, '--customers', files.customers, '--rules', files.rules];
    expect((await runCli(['billing', 'push', '--to', 'stripe', ...common], env)).code).toBe(0);
    const from = new Date(now - 86_400_000).toISOString();
    const to = new Date(now + 86_400_000).toISOString();

    const clean = await runCli(['billing', 'reconcile', '--from', from, '--to', to, ...common, '--json']);
    expect(clean.code).toBe(0);
    const before = JSON.parse(clean.output) as Json;
    expect(before.destination).toBe('stripe');
    // What Stripe holds, summed per customer, is what reconcile says was pushed, and equals the ledger.
    for (const [user, customer] of Object.entries(CUSTOMERS)) {
      const atStripe = standIn.events.filter((e) => e.payload.stripe_customer_id === customer).reduce((n, e) => n + BigInt(Math.round(Number(e.payload.value) * 1e10)), 0n);
      const line = before.customers.find((c) => c.customer === customer)!;
      expect(line.pushed).toBe(formatUsd(atStripe));
      expect(line.ledger).toBe(line.pushed);
      expect(line.difference).toBe('0');
      expect(line.rows).toBe(rows.filter((r) => r.fields.user === user && r.status !== 429 && r.modelUsed !== 'acme-private-llm').length);
    }
    expect(before.differences.map((d) => d.kind).sort()).toEqual(['held: no customer (user=dave)', 'held: unpriced model (acme-private-llm)']);
    // A held row is listed under the customer it would be billed to, when it has one (carol's call of the unpriced model).
    expect(before.differences.find((d) => d.kind.startsWith('held: unpriced'))!.customer).toBe(CUSTOMERS.carol);
    expect(before.differences.find((d) => d.kind.startsWith('held: no customer'))!.customer).toBe('user=dave');

    // Two calls after the push, and a new markup for pro: the ledger now says more than was pushed.
    const store = createSqliteStore({ path: files.db });
    const late = { ...rows[0]!, time: now + 1000, cost: 0.002 };
    store.record(late);
    store.record({ ...late, time: now + 2000, fields: { ...late.fields, user: 'carol', plan: 'enterprise' } });
    await store.close();
    writeFileSync(files.rules, `version: '0.1'\nrules: []\nplans:\n  pro: { price: 20, markup: 1.5 }\n  free: { price: 0 }\n  enterprise: { price: 500, markup: 1.15 }\n`);
    const json = JSON.parse((await runCli(['billing', 'reconcile', '--from', from, '--to', to, ...common, '--json'])).output) as Json;
    const notYet = json.differences.filter((d) => d.kind === 'not pushed yet');
    expect(notYet.map((d) => d.customer).sort()).toEqual([CUSTOMERS.alice, CUSTOMERS.carol].sort());
    const lateValue = formatUsd((BigInt(costUnits(0.002)) * 1_500_000n + 500_000n) / 1_000_000n);
    expect(notYet.find((d) => d.customer === CUSTOMERS.alice)!.ledger).toBe(lateValue);
    const changed = json.differences.filter((d) => d.kind === 'value differs');
    expect(changed.length).toBe(rows.filter((r) => r.fields.plan === 'pro' && r.fields.user === 'alice' && r.status !== 429).length);
    const alice = json.customers.find((c) => c.customer === CUSTOMERS.alice)!;
    expect(alice.difference).not.toBe('0');
    expect(json.total.difference).not.toBe('0');

    const table = await runCli(['billing', 'reconcile', '--from', from, '--to', to, ...common]);
    expect(table.code).toBe(0);
    expect(table.output).toMatch(/customer\s+│\s+ledger\s+│\s+pushed\s+│\s+difference/);
    expect(table.output).toContain(CUSTOMERS.alice);
    expect(table.output).toMatch(/not pushed yet/);
    expect(table.output).toMatch(/value differs/);
    expect(table.output).toMatch(/\d+ differences:/);
  }, 90_000);

  it('asks for the period and for something pushed first', async () => {
    const files = await writeLedger(tempDir(), fixtureRows(3));
    const noPeriod = await runCli(['billing', 'reconcile', '--store', `sqlite:${files.db}`]);
    expect(noPeriod.code).toBe(1);
    expect(noPeriod.output).toMatch(/give the period with --from DATE --to DATE/);
    const badDate = await runCli(['billing', 'reconcile', '--from', 'yesterday', '--to', '2026-12-01', '--store', `sqlite:${files.db}`]);
    expect(badDate.output).toMatch(/--from "yesterday" is not a date/);
    const nothing = await runCli(['billing', 'reconcile', '--from', '2026-11-01', '--to', '2026-12-01', '--store', `sqlite:${files.db}`]);
    expect(nothing.output).toMatch(/nothing was pushed from this ledger yet/);
  }, 60_000);
});
