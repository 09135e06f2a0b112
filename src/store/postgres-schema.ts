import type { Pool, PoolClient } from 'pg';
import { inTransaction } from './postgres-driver.js';

/** Quotes an SQL identifier (schema and table names come from options). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The Postgres schema as an append-only list of migrations; migration `i` brings a schema from
 * version `i` to `i + 1` (recorded in `tokenlay_migrations`). Never edit a released one; add one.
 * `$S` stands for the quoted schema.
 */
export const migrations: readonly string[] = [
  // v1: the usage ledger, partitioned by month on `time` (ms since epoch). One row per call,
  // keyed by the call's idempotency key, so a replayed or retried batch never duplicates.
  `CREATE TABLE $S.tokenlay_ledger (
     call_id uuid NOT NULL,
     time bigint NOT NULL,
     seq bigserial,
     fields jsonb NOT NULL,
     model_requested text,
     model_used text,
     endpoint text NOT NULL,
     input_tokens bigint NOT NULL,
     output_tokens bigint NOT NULL,
     cached_tokens bigint NOT NULL,
     cost double precision NOT NULL,
     rule_id text,
     action text,
     status integer NOT NULL,
     latency_ms double precision NOT NULL,
     estimated boolean NOT NULL,
     PRIMARY KEY (time, call_id)
   ) PARTITION BY RANGE (time);
   CREATE INDEX tokenlay_ledger_fields ON $S.tokenlay_ledger USING gin (fields jsonb_path_ops);`,
  // v2: the gateway's keys and accounts (tokenlay keys --ledger postgres://…): the SHA-256 of each
  // key, never the key; times in ms since epoch.
  `CREATE TABLE $S.tokenlay_keys (
     name text PRIMARY KEY,
     hash bytea NOT NULL UNIQUE,
     created_at bigint NOT NULL,
     last_used_at bigint,
     revoked_at bigint
   );`,
  // v3: money as integers: \`cost_units\` in 1e-10 USD (see money.ts), converted from the USD
  // double; \`cost\` stays, computed from it, for hand-written SQL. Estimated rows say why.
  `ALTER TABLE $S.tokenlay_ledger ADD COLUMN cost_units bigint;
   UPDATE $S.tokenlay_ledger SET cost_units = round(cost::numeric * 10000000000)::bigint;
   ALTER TABLE $S.tokenlay_ledger ALTER COLUMN cost_units SET NOT NULL;
   ALTER TABLE $S.tokenlay_ledger DROP COLUMN cost;
   ALTER TABLE $S.tokenlay_ledger ADD COLUMN cost double precision GENERATED ALWAYS AS (cost_units::double precision / 10000000000) STORED;
   ALTER TABLE $S.tokenlay_ledger ADD COLUMN estimate_reason text;`,
];

/** The name whose `hashtext` is the advisory lock of {@link lockSchemaDdl}. */
export function ddlLockName(schema: string): string {
  return `tokenlay-ddl:${schema}`;
}

/**
 * Inside a transaction: waits for the one advisory lock that every tokenlay DDL on `schema` takes
 * (the ledger's migrations, the override tables, the billing tables), then creates the schema if
 * missing. One lock for all of them because PostgreSQL's `CREATE SCHEMA IF NOT EXISTS` and
 * `CREATE TABLE IF NOT EXISTS` are not atomic: two gateways starting at once, each opening its
 * ledger, key store and override store, would otherwise fail on a duplicate `pg_namespace` row.
 */
export async function lockSchemaDdl(client: PoolClient, schema: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [ddlLockName(schema)]);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
}

/** The schema version this code writes. */
export const SCHEMA_VERSION = migrations.length;

/**
 * Brings `schema` up to {@link SCHEMA_VERSION} in one transaction under an advisory lock, so that
 * several instances starting at once run each migration once.
 *
 * @throws when the database was migrated by a newer tokenlay.
 */
export async function migrate(pool: Pool, schema: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await lockSchemaDdl(client, schema);
    const s = ident(schema);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.tokenlay_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.tokenlay_migrations`);
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `tokenlay: Postgres ledger schema "${schema}" is at version ${current}, newer than this tokenlay understands (${SCHEMA_VERSION}). Upgrade tokenlay, or use another schema.`,
      );
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
      await client.query(migrations[v].replaceAll('$S', s));
      await client.query(`INSERT INTO ${s}.tokenlay_migrations (version) VALUES ($1)`, [v + 1]);
    }
  });
}

/** First ms of the UTC month holding `time`. */
export function monthStart(time: number): number {
  const d = new Date(time);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextMonth(start: number): number {
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** `tokenlay_ledger_y2026m01` for January 2026. */
export function partitionName(start: number): string {
  const d = new Date(start);
  return `tokenlay_ledger_y${String(d.getUTCFullYear()).padStart(4, '0')}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Creates the monthly partitions for these month starts if missing (serialized by a lock). */
export async function ensurePartitions(client: PoolClient, schema: string, months: number[]): Promise<void> {
  const s = ident(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tokenlay-partition:${schema}`]);
    for (const start of months) {
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.${ident(partitionName(start))} PARTITION OF ${s}.tokenlay_ledger FOR VALUES FROM (${start}) TO (${nextMonth(start)})`,
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/**
 * Drops monthly partitions that ended more than `retainMonths` whole months before `now`: one
 * `DROP TABLE` per month, with no row-by-row delete. Returns the names dropped.
 */
export async function dropOldPartitions(pool: Pool, schema: string, retainMonths: number, now: number): Promise<string[]> {
  const keepFrom = (() => {
    const d = new Date(monthStart(now));
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - retainMonths, 1);
  })();
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace n ON n.oid = p.relnamespace
     WHERE p.relname = 'tokenlay_ledger' AND n.nspname = $1 AND c.relkind = 'r'`,
    [schema],
  );
  const dropped: string[] = [];
  for (const { name } of rows) {
    const m = /^tokenlay_ledger_y(\d{4})m(\d{2})$/.exec(name);
    if (!m) continue;
    const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
    if (start < keepFrom) {
      await pool.query(`DROP TABLE IF EXISTS ${ident(schema)}.${ident(name)}`);
      dropped.push(name);
    }
  }
  return dropped.sort();
}
