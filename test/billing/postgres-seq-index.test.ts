/**
 * The billing pusher on a PostgreSQL ledger reads `max(seq)` under a SHARE lock (which holds ledger
 * writes back while it runs) and the rows after its cursor by `seq`: both go through an index on
 * `seq`, not a scan of every monthly partition, so neither grows with the ledger.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openPostgresBillingLedger } from '../../src/billing/postgres-ledger.js';
import { createPostgresLedger } from '../../src/store/postgres.js';
import { POSTGRES_URL, usePostgresSchemas } from '../store/services.js';
import { fixtureRows } from './ledger-fixture.js';

const schemas = usePostgresSchemas();

describe('billing on a PostgreSQL ledger', () => {
  it('finds the last seq and the rows after the cursor through an index, in every partition', async () => {
    const schema = schemas();
    const ledger = createPostgresLedger({ url: POSTGRES_URL, schema, spoolPath: false });
    await ledger.ready();
    // Two months: two partitions.
    for (const r of [...fixtureRows(4, Date.UTC(2026, 9, 20)), ...fixtureRows(4, Date.UTC(2026, 10, 20))]) ledger.record(r);
    await ledger.close();
    const billing = await openPostgresBillingLedger(POSTGRES_URL, schema);
    expect((await billing.rowsAfter(0, 100)).length).toBeGreaterThan(8);
    await billing.close();

    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      // On a table this small a scan is cheaper: forbid it, so the plan shows whether an index exists.
      await client.query('SET enable_seqscan = off');
      const plan = async (sql: string) => (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      const max = await plan(`SELECT max(seq) FROM "${schema}".tokenlay_ledger`);
      const after = await plan(`SELECT * FROM "${schema}".tokenlay_ledger WHERE seq > 3 AND seq <= 9 ORDER BY seq LIMIT 100`);
      expect(max).not.toMatch(/Seq Scan/);
      expect(after).not.toMatch(/Seq Scan/);
    } finally {
      await client.end();
    }
  }, 60_000);
});
