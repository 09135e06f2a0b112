/**
 * `tokenlay billing push --to stripe` against a local stand-in of Stripe's meter-events endpoint,
 * with the real `stripe` package pointed at it: exactly once across a kill -9 mid-batch, the
 * package's own retry of a 429, a wrong key, and what is held back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteBillingLedger } from '../../src/billing/sqlite-ledger.js';
import { costUnits, formatUsd } from '../../src/store/money.js';
import { isBlocked } from '../../src/store/usage-breakdown.js';
import type { LedgerRow } from '../../src/store/types.js';
import { eventually } from '../support/gate.js';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { useTempDirs } from '../store/temp-dir.js';
import { CUSTOMERS, RULES_YAML, fixtureRows, runCli, startCli, writeLedger } from './ledger-fixture.js';

const KEY = 'sk_test_51TokenlayStandInKey0000000000000000';
const tempDir = useTempDirs();
let standIn: StripeStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

const MARKUP: Record<string, bigint> = { pro: 1_300_000n, enterprise: 1_150_000n };
/** What a row is billed: its cost in 1e-10 USD units times its plan's markup, rounded half up. */
function expectedValue(row: LedgerRow): string {
  const units = BigInt(costUnits(row.cost));
  const m = MARKUP[row.fields.plan!];
  return formatUsd(m === undefined ? units : (units * m + 500_000n) / 1_000_000n);
}
const billable = (r: LedgerRow) => !isBlocked(r) && r.fields.user !== 'dave' && r.modelUsed !== 'acme-private-llm';

async function ledgerIds(db: string): Promise<string[]> {
  const ledger = openSqliteBillingLedger(db);
  try {
    return (await ledger.rowsAfter(0, 1000)).map((r) => r.id);
  } finally {
    await ledger.close();
  }
}

function pushArgs(files: { db: string; customers: string; rules: string }, extra: string[] = []) {
  return ['billing', 'push', '--to', 'stripe', '--store', `sqlite:${files.db}`, '--customers', files.customers, '--rules', files.rules, '--batch', '10', ...extra];
}

/**
 * Runs a push that is killed (kill -9) in its second batch: the first batch (10 rows) is
 * answered; in the second, 4 events are answered and the rest reach Stripe but hang, as if the
 * answers were lost. Stripe then processes what reached it: those events exist although the
 * pusher never heard back.
 */
async function killedInSecondBatch(files: { db: string; customers: string; rules: string }, env: Record<string, string>): Promise<void> {
  standIn!.holdAfter(10 + 4);
  const first = startCli(pushArgs(files), env);
  await eventually(() => standIn!.held() >= 2, 'the pusher to be waiting on the second batch', 30_000);
  first.child.kill('SIGKILL');
  expect(await first.exited).toBe('SIGKILL');
  standIn!.release();
}

describe('tokenlay billing push --to stripe', () => {
  it('bills every row exactly once when the pusher is killed (kill -9) mid-batch and started again', async () => {
    const rows = fixtureRows(40);
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    await killedInSecondBatch(files, env);
    const acceptedBeforeRestart = standIn.events.length;
    expect(acceptedBeforeRestart).toBeGreaterThan(9);

    const ids = await ledgerIds(files.db);
    const afterKill = openSqliteBillingLedger(files.db);
    // Only the first batch was committed: the cursor sits on its last row.
    expect(await afterKill.cursor('stripe')).toBe(10);
    await afterKill.close();

    const second = await runCli(pushArgs(files), env);
    expect(second.output).toMatch(/held back: \S+ .* no customer: user=dave/);
    expect(second.code).toBe(0);
    // Held back, and kept in the store with the reason: the unpriced model (in the first batch) and dave.
    const after = openSqliteBillingLedger(files.db);
    const held = await after.held('stripe', 0, Date.now() + 1);
    await after.close();
    expect(held.map((h) => `${h.reason}: ${h.detail}`).sort()).toEqual(['no customer: user=dave', 'unpriced model: acme-private-llm']);

    // Every billable row once, with its ledger id as identifier; nothing else.
    const perIdentifier = new Map<string, number>();
    for (const e of standIn.events) perIdentifier.set(e.identifier, (perIdentifier.get(e.identifier) ?? 0) + 1);
    const expected = rows.map((r, i) => ({ r, id: ids[i]! })).filter(({ r }) => billable(r));
    expect(expected).toHaveLength(40 + 1);
    expect([...perIdentifier.keys()].sort()).toEqual(expected.map((e) => e.id).sort());
    expect([...perIdentifier.values()].every((n) => n === 1)).toBe(true);
    // The restarted pusher sent the unacknowledged rows again, with the same Idempotency-Keys:
    // Stripe answered them with its first answers.
    const duplicates = standIn.requests.filter((q) => q.replayed).length;
    expect(duplicates).toBeGreaterThan(0);
    for (const { r, id } of expected) {
      const event = standIn.events.find((e) => e.identifier === id)!;
      expect(event.event_name).toBe('tokenlay_llm_usage');
      expect(event.payload.stripe_customer_id).toBe(CUSTOMERS[r.fields.user as keyof typeof CUSTOMERS]);
      expect(event.payload.value).toBe(expectedValue(r));
      expect(event.timestamp).toBe(Math.floor(r.time / 1000));
    }
    // The cancelled stream (499) is billed.
    const cancelled = expected.find(({ r }) => r.status === 499)!;
    expect(perIdentifier.get(cancelled.id)).toBe(1);

    // A third run finds nothing left to send.
    const before = standIn.requests.length;
    const third = await runCli(pushArgs(files), env);
    expect(third.code).toBe(0);
    expect(third.output).toMatch(/0 calls sent to stripe/);
    expect(standIn.requests.length).toBe(before);
  }, 90_000);

  it('keeps each row once across a kill -9 mid-batch by its Idempotency-Key alone, when Stripe does not refuse the identifier again', async () => {
    const rows = fixtureRows(20);
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    standIn.acceptDuplicateIdentifiers();
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    await killedInSecondBatch(files, env);
    const second = await runCli(pushArgs(files), env);
    expect(second.code).toBe(0);
    // The rows of the second batch were sent again, with the same keys: Stripe replayed its answers.
    expect(standIn.requests.filter((q) => q.replayed).length).toBeGreaterThan(0);
    const perIdentifier = new Map<string, number>();
    for (const e of standIn.events) perIdentifier.set(e.identifier, (perIdentifier.get(e.identifier) ?? 0) + 1);
    expect(perIdentifier.size).toBe(rows.filter(billable).length);
    expect([...perIdentifier.entries()].filter(([, n]) => n > 1)).toEqual([]);
  }, 90_000);

  it('counts an event Stripe refuses as already there ("An event already exists with identifier") as sent, when its value changed since the crash', async () => {
    const rows = fixtureRows(20);
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url };
    standIn.holdAfter(10 + 4);
    const first = startCli(pushArgs(files), env);
    await eventually(() => standIn!.held() >= 2, 'the pusher to be waiting on the second batch', 30_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    standIn.release();
    // A new markup: the events sent again have other parameters, so another Idempotency-Key.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(files.rules, RULES_YAML.replace('markup: 1.3', 'markup: 1.4').replace('markup: 1.15', 'markup: 1.25'));
    const second = await runCli(pushArgs(files), env);
    expect(second.code).toBe(0);
    expect(standIn.requests.filter((q) => q.status === 400).length).toBeGreaterThan(0);
    expect(new Set(standIn.events.map((e) => e.identifier)).size).toBe(standIn.events.length);
    expect(standIn.events).toHaveLength(rows.filter(billable).length);
  }, 90_000);

  it('gets past a 500 that Stripe keeps under the Idempotency-Key, by sending that event again under a new key', async () => {
    const rows = fixtureRows(3);
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    standIn.failNext(1);
    const run = await runCli(pushArgs(files), { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url });
    expect(run.output).toMatch(/calls sent to stripe/);
    expect(run.code).toBe(0);
    // The stripe package's own retries got the saved 500 back; the next try went through.
    expect(standIn.requests.filter((q) => q.status === 500 && q.replayed).length).toBeGreaterThan(0);
    expect(standIn.events).toHaveLength(rows.filter(billable).length);
    expect(new Set(standIn.events.map((e) => e.identifier)).size).toBe(standIn.events.length);
  }, 90_000);

  it('lets the stripe package retry a 429 that Stripe marks retryable, and bills once', async () => {
    const rows = fixtureRows(6);
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    standIn.rateLimitNext(2);
    const run = await runCli(pushArgs(files), { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url });
    expect(run.code).toBe(0);
    expect(standIn.requests.filter((q) => q.status === 429)).toHaveLength(2);
    expect(standIn.events).toHaveLength(rows.filter(billable).length);
    expect(new Set(standIn.events.map((e) => e.identifier)).size).toBe(standIn.events.length);
    // The retries carried the first try's Idempotency-Key, as Stripe asks.
    const retried = standIn.requests.filter((q) => q.status === 429).map((q) => q.idempotencyKey);
    for (const key of retried) expect(standIn.requests.some((q) => q.status === 200 && q.idempotencyKey === key)).toBe(true);
  }, 60_000);

  it('stops on a wrong key with a clear error that never shows the key, and moves no cursor', async () => {
    const files = await writeLedger(tempDir(), fixtureRows(3));
    standIn = await startStripeStandIn(KEY);
    const wrong = 'sk_test_51WrongKeyWrongKeyWrongKey00000000000';
    const run = await runCli(pushArgs(files), { STRIPE_API_KEY: wrong, TOKENLAY_STRIPE_API_BASE: standIn.url });
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/Stripe refused the API key in STRIPE_API_KEY \(401/);
    expect(run.output).not.toContain(wrong);
    expect(standIn.events).toHaveLength(0);
    const ledger = openSqliteBillingLedger(files.db);
    expect(await ledger.cursor('stripe')).toBe(0);
    await ledger.close();
  }, 60_000);

  it('says what is missing: no STRIPE_API_KEY, an unknown --to, a bad --value, a customers file that is not JSON', async () => {
    const files = await writeLedger(tempDir(), fixtureRows(3));
    const noKey = await runCli(pushArgs(files), { STRIPE_API_KEY: '' });
    expect(noKey.code).toBe(1);
    expect(noKey.output).toMatch(/needs a secret key in env STRIPE_API_KEY/);
    const to = await runCli(['billing', 'push', '--to', 'lago', '--store', `sqlite:${files.db}`]);
    expect(to.output).toMatch(/--to must be stripe or cloudevents URL .* got "lago"/);
    const value = await runCli(pushArgs(files, ['--value', 'dollars']), { STRIPE_API_KEY: KEY });
    expect(value.output).toMatch(/--value \(or TOKENLAY_BILLING_VALUE\) must be cost or tokens; got "dollars"/);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(files.customers, 'alice,cus_1');
    const customers = await runCli(pushArgs(files), { STRIPE_API_KEY: KEY });
    expect(customers.output).toMatch(/customers file ".*customers.json" is not JSON/);
    const field = await runCli(pushArgs(files, ['--customer-field', 'team']), { STRIPE_API_KEY: KEY });
    expect(field.output).toMatch(/--customer-field .* must be user or org; got "team"/);
  }, 60_000);

  it('bills tokens with --value tokens, and takes the field value as the customer id without a customers file', async () => {
    const now = Date.now();
    const rows = fixtureRows(3, now).map((r) => ({ ...r, fields: { ...r.fields, org: `cus_${r.fields.user}Org` } }));
    const files = await writeLedger(tempDir(), rows);
    standIn = await startStripeStandIn(KEY);
    const run = await runCli(['billing', 'push', '--to', 'stripe', '--store', `sqlite:${files.db}`, '--customer-field', 'org', '--value', 'tokens', '--event-name', 'llm_tokens'], {
      STRIPE_API_KEY: KEY,
      TOKENLAY_STRIPE_API_BASE: standIn.url,
    });
    expect(run.code).toBe(0);
    const sent = rows.filter((r) => !isBlocked(r));
    expect(standIn.events).toHaveLength(sent.length);
    for (const e of standIn.events) expect(e.event_name).toBe('llm_tokens');
    expect(standIn.events.map((e) => e.payload.value).sort()).toEqual(sent.map((r) => String(r.inputTokens + r.outputTokens)).sort());
    expect(new Set(standIn.events.map((e) => e.payload.stripe_customer_id))).toEqual(new Set(sent.map((r) => r.fields.org)));
  }, 60_000);
});
