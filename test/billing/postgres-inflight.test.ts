/**
 * A PostgreSQL ledger written while `tokenlay billing push` reads it: a row whose `seq` was taken
 * before a later row committed, and which commits after, is not passed over by the cursor.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openPostgresBillingLedger } from '../../src/billing/postgres-ledger.js';
import { createPostgresLedger } from '../../src/store/postgres.js';
import { eventually } from '../support/gate.js';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { POSTGRES_URL, pgQuery, usePostgresSchemas } from '../store/services.js';
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

const INSERT = (s: string) =>
  `INSERT INTO "${s}".tokenlay_ledger (call_id, time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens, cached_tokens, cost_units, rule_id, action, status, latency_ms, estimated)
   VALUES ($1, $2, '{"user":"alice","plan":"pro"}', 'gpt-4o', 'gpt-4o', '/v1/chat/completions', 100, 20, 0, 4500000, null, 'allow', 200, 40, false)`;

describe('tokenlay billing push from a PostgreSQL ledger being written', () => {
  it('waits for a ledger write in flight (lower seq, committed later) and bills it and the rows after it once', async () => {
    const schema = schemas();
    const ledger = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: false });
    await ledger.ready();
    // One call recorded the usual way (it also makes this month's partition).
    const [first] = fixtureRows(1);
    ledger.record(first!);
    await ledger.close();
    const files = await writeLedger(tempDir(), []);
    const now = Date.now();
    // A write in flight: its seq is taken now, its commit comes later.
    const slow = new pg.Client({ connectionString: POSTGRES_URL });
    await slow.connect();
    const slowId = randomUUID();
    const fastId = randomUUID();
    try {
      await slow.query('BEGIN');
      await slow.query(INSERT(schema), [slowId, now - 2000]);
      await pgQuery(INSERT(schema), [fastId, now - 1000]);
      standIn = await startStripeStandIn(KEY);
      const args = ['billing', 'push', '--to', 'stripe', '--ledger', `${POSTGRES_URL}?schema=${schema}`, '--customers', files.customers, '--rules', files.rules];
      const push = startCli(args, { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url });
      await eventually(async () => (await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND mode = 'ShareLock' AND relation = $1::regclass`, [`"${schema}".tokenlay_ledger`]))[0]!.n > 0, 'the push to wait for the write in flight', 30_000);
      expect(standIn.events).toHaveLength(0);
      await slow.query('COMMIT');
      expect(await push.exited, push.output()).toBe(0);
    } finally {
      await slow.end();
    }
    const billing = await openPostgresBillingLedger(POSTGRES_URL, schema);
    const rows = await billing.rowsAfter(0, 10);
    expect(rows.map((r) => r.id)).toEqual(expect.arrayContaining([slowId, fastId]));
    expect(standIn.events.map((e) => e.identifier).sort()).toEqual(rows.map((r) => r.id).sort());
    expect(await billing.cursor('stripe')).toBe(Math.max(...rows.map((r) => r.position)));
    await billing.close();
    const again = await runCli(['billing', 'push', '--to', 'stripe', '--ledger', `${POSTGRES_URL}?schema=${schema}`, '--customers', files.customers], { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: standIn.url });
    expect(again.code, again.output).toBe(0);
    expect(standIn.events).toHaveLength(rows.length);
  }, 90_000);
});
