import type { Pool } from 'pg';
import { TokenlayConfigError } from '../errors.js';
import { createPool, inTransaction } from './postgres-driver.js';
import { ident, lockSchemaDdl } from './postgres-schema.js';
import { redactUrl } from './redact.js';
import { auditPage, clearChange, creditChange, maxUnits, overrideOfRow, setChange, type OverrideRow, type LimitOverride, type OverrideChange, type OverrideStore } from './overrides.js';

/** The ledger URL's own parameters, which are not pg connection options. */
const LEDGER_PARAMS = ['schema', 'batchSize', 'flushIntervalMs', 'retainMonths'];

// Tables of their own, created if missing under the schema's DDL lock (lockSchemaDdl): the ledger's numbered migrations
// need not know about them, and a ledger schema without them is upgraded in place.
const SCHEMA = (s: string) => `
CREATE TABLE IF NOT EXISTS ${s}.tokenlay_limit_overrides (
  account text NOT NULL, target text NOT NULL, value text NOT NULL, type text NOT NULL,
  max bigint NOT NULL, "window" text NOT NULL, until bigint, note text, set_by text NOT NULL, set_at bigint NOT NULL,
  PRIMARY KEY (account, target, value, type)
);
CREATE TABLE IF NOT EXISTS ${s}.tokenlay_credit_grants (
  account text NOT NULL, target text NOT NULL, value text NOT NULL, granted_units bigint NOT NULL,
  PRIMARY KEY (account, target, value)
);
CREATE TABLE IF NOT EXISTS ${s}.tokenlay_limit_changes (id bigserial PRIMARY KEY, account text NOT NULL, entry jsonb NOT NULL);`;

/**
 * Overrides and credit grants in PostgreSQL, beside the ledger (the same `postgres://` URL and
 * `?schema=`): every gateway on that database sees every change at its next poll.
 *
 * @throws {TokenlayConfigError} when the URL is not a Postgres URL, or with "npm install pg" when pg is missing.
 */
export function createPostgresOverrideStore(opts: { url: string; now?: () => number }): OverrideStore {
  if (!/^postgres(ql)?:\/\//i.test(opts.url ?? '')) {
    throw new TokenlayConfigError(`tokenlay: overrides URL "${redactUrl(String(opts.url))}" is not a Postgres URL; use --ledger postgres://user:password@host:5432/db.`);
  }
  const url = new URL(opts.url);
  const schema = url.searchParams.get('schema') ?? 'public';
  for (const name of LEDGER_PARAMS) url.searchParams.delete(name);
  const s = ident(schema);
  const pool: Pool = createPool({ connectionString: url.toString(), max: 2 }, () => {});
  const started = (async () => {
    // Connected outside the wrapping below: a database that cannot be reached fails as it is, and the CLI names it.
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await lockSchemaDdl(client, schema);
      await client.query(SCHEMA(s));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw new Error(`tokenlay: cannot use the Postgres overrides at ${redactUrl(opts.url)} (${(error as Error).message}). Check --ledger (TOKENLAY_LEDGER) and that the database is up.`, { cause: error });
    } finally {
      client.release();
    }
  })();
  started.catch(() => {});

  async function changing<T>(fn: (q: Pool['query']) => Promise<T>): Promise<T> {
    await started;
    return inTransaction(pool, (client) => fn(client.query.bind(client) as Pool['query']));
  }
  const record = (q: Pool['query'], c: OverrideChange) => q(`INSERT INTO ${s}.tokenlay_limit_changes (account, entry) VALUES ($1, $2)`, [c.account, JSON.stringify(c)]);

  return {
    async version() {
      await started;
      const { rows } = await pool.query<{ v: string | null }>(`SELECT max(id) AS v FROM ${s}.tokenlay_limit_changes`);
      return Number(rows[0]?.v ?? 0);
    },
    async list() {
      await started;
      const { rows } = await pool.query<OverrideRow>(`SELECT * FROM ${s}.tokenlay_limit_overrides ORDER BY set_at`);
      return rows.map(overrideOfRow);
    },
    set(o) {
      return changing(async (q) => {
        await q(
          `INSERT INTO ${s}.tokenlay_limit_overrides (account, target, value, type, max, "window", until, note, set_by, set_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (account, target, value, type) DO UPDATE SET max = EXCLUDED.max, "window" = EXCLUDED."window", until = EXCLUDED.until, note = EXCLUDED.note, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at`,
          [o.account, o.target, o.value, o.type, maxUnits(o.type, o.max), o.window, o.until, o.note, o.setBy, o.setAt],
        );
        await record(q, setChange(o));
      });
    },
    clear(key, type, by, time) {
      return changing(async (q) => {
        const { rows } = await q<OverrideRow>(`DELETE FROM ${s}.tokenlay_limit_overrides WHERE account = $1 AND target = $2 AND value = $3 AND type = $4 RETURNING *`, [key.account, key.target, key.value, type]);
        if (!rows[0]) return false;
        await record(q, clearChange(overrideOfRow(rows[0]), by, time));
        return true;
      });
    },
    grant(key, units, by, time, note) {
      return changing(async (q) => {
        const { rows } = await q<{ granted_units: string }>(
          `INSERT INTO ${s}.tokenlay_credit_grants (account, target, value, granted_units) VALUES ($1, $2, $3, $4)
           ON CONFLICT (account, target, value) DO UPDATE SET granted_units = ${s}.tokenlay_credit_grants.granted_units + EXCLUDED.granted_units RETURNING granted_units`,
          [key.account, key.target, key.value, units],
        );
        await record(q, creditChange(key, units, by, time, note));
        return Number(rows[0]!.granted_units);
      });
    },
    async grants() {
      await started;
      const { rows } = await pool.query<{ account: string; target: LimitOverride['target']; value: string; granted_units: string }>(`SELECT * FROM ${s}.tokenlay_credit_grants`);
      return rows.map((r) => ({ account: r.account, target: r.target, value: r.value, grantedUnits: Number(r.granted_units) }));
    },
    async audit(query) {
      await started;
      const { rows } = await pool.query<{ entry: OverrideChange }>(`SELECT entry FROM ${s}.tokenlay_limit_changes ORDER BY id`);
      return auditPage(rows.map((r) => r.entry), query);
    },
    async close() {
      await pool.end();
    },
  };
}
