import type { Pool } from 'pg';
import { createPool, inTransaction, loadPg } from '../store/postgres-driver.js';
import { fromDb, type DbRow } from '../store/postgres.js';
import { ident, lockSchemaDdl } from '../store/postgres-schema.js';
import type { BillableRow, BillingLedger } from './types.js';

type Row = DbRow & { call_id: string; seq: string };

const COLUMNS = 'call_id, seq, time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens, cached_tokens, cost_units, rule_id, action, status, latency_ms, estimated, estimate_reason';

/**
 * The billing view of a PostgreSQL ledger (`tokenlay_ledger`): rows are known by their call id
 * (a uuid, unique across ledgers) and ordered by `seq`. A sequence is handed out before commit, so
 * a row with a lower `seq` may become visible after one with a higher: rows are read only up to a
 * mark taken under a SHARE lock, which waits for the ledger writes in progress to commit (and holds
 * new ones back for the instant it takes to read `max(seq)`).
 */
export async function openPostgresBillingLedger(url: string, schema = 'public'): Promise<BillingLedger> {
  loadPg();
  const pool: Pool = createPool({ connectionString: url, max: 2 }, () => {});
  const s = ident(schema);
  try {
    const { rows } = await pool.query<{ found: string | null }>(`SELECT to_regclass($1) AS found`, [`${s}.tokenlay_ledger`]);
    if (rows[0]?.found == null) throw new Error(`the PostgreSQL database has no tokenlay ledger in schema "${schema}"; point --ledger at the database your gateways write.`);
    // Two pushers (or a pusher and a starting gateway) must not race on CREATE TABLE IF NOT EXISTS (it is not atomic).
    await inTransaction(pool, async (client) => {
      await lockSchemaDdl(client, schema);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${s}.tokenlay_billing_cursors (destination text PRIMARY KEY, position bigint NOT NULL, updated_at bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS ${s}.tokenlay_billing_pushed (destination text NOT NULL, id text NOT NULL, customer text NOT NULL, value text NOT NULL,
          time bigint NOT NULL, pushed_at bigint NOT NULL, PRIMARY KEY (destination, id));
        CREATE INDEX IF NOT EXISTS tokenlay_billing_pushed_by_time ON ${s}.tokenlay_billing_pushed (destination, time);
        CREATE TABLE IF NOT EXISTS ${s}.tokenlay_billing_held (destination text NOT NULL, id text NOT NULL, position bigint NOT NULL, reason text NOT NULL,
          detail text NOT NULL, time bigint NOT NULL, PRIMARY KEY (destination, id));
        -- The pusher reads max(seq) under a SHARE lock (ledger writes wait meanwhile) and the rows
        -- after its cursor by seq: without this index each is a scan of every partition. Built once,
        -- the first time the ledger is billed (writes wait for that build too); new partitions get it.
        CREATE INDEX IF NOT EXISTS tokenlay_ledger_seq ON ${s}.tokenlay_ledger (seq);`);
    });
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const billable = (r: Row): BillableRow => ({ id: r.call_id, position: Number(r.seq), row: fromDb(r) });

  /** The highest `seq` below which every row is committed. */
  async function committedMark(): Promise<number> {
    return inTransaction(pool, async (client) => {
      await client.query(`LOCK TABLE ${s}.tokenlay_ledger IN SHARE MODE`);
      const { rows } = await client.query<{ mark: string | null }>(`SELECT max(seq) AS mark FROM ${s}.tokenlay_ledger`);
      return Number(rows[0]?.mark ?? 0);
    });
  }

  return {
    async cursor(destination) {
      const { rows } = await pool.query<{ position: string }>(`SELECT position FROM ${s}.tokenlay_billing_cursors WHERE destination = $1`, [destination]);
      return Number(rows[0]?.position ?? 0);
    },
    async rowsAfter(position, limit) {
      const mark = await committedMark();
      if (mark <= position) return [];
      const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM ${s}.tokenlay_ledger WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [position, mark, limit]);
      return rows.map(billable);
    },
    async advance(destination, to, pushed, held) {
      const now = Date.now();
      await inTransaction(pool, async (client) => {
        for (const p of pushed) {
          await client.query(`INSERT INTO ${s}.tokenlay_billing_pushed (destination, id, customer, value, time, pushed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, [destination, p.id, p.customer, p.value, p.time, now]);
        }
        for (const h of held) {
          await client.query(`INSERT INTO ${s}.tokenlay_billing_held (destination, id, position, reason, detail, time) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, [destination, h.id, h.position, h.reason, h.detail, h.time]);
        }
        await client.query(
          `INSERT INTO ${s}.tokenlay_billing_cursors (destination, position, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (destination) DO UPDATE SET position = greatest(${s}.tokenlay_billing_cursors.position, excluded.position), updated_at = excluded.updated_at`,
          [destination, to, now],
        );
      });
    },
    async heldRows(destination, reasons, position, limit) {
      const { rows } = await pool.query<Row>(
        `SELECT ${COLUMNS.split(', ').map((c) => `l.${c}`).join(', ')} FROM ${s}.tokenlay_billing_held h JOIN ${s}.tokenlay_ledger l ON l.time = h.time AND l.call_id = h.id::uuid
         WHERE h.destination = $1 AND h.reason = ANY($2::text[]) AND h.position > $3 ORDER BY h.position LIMIT $4`,
        [destination, reasons, position, limit],
      );
      return rows.map(billable);
    },
    async release(destination, pushed) {
      const now = Date.now();
      await inTransaction(pool, async (client) => {
        for (const p of pushed) {
          await client.query(`INSERT INTO ${s}.tokenlay_billing_pushed (destination, id, customer, value, time, pushed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, [destination, p.id, p.customer, p.value, p.time, now]);
          await client.query(`DELETE FROM ${s}.tokenlay_billing_held WHERE destination = $1 AND id = $2`, [destination, p.id]);
        }
      });
    },
    async destinations() {
      const { rows } = await pool.query<{ destination: string }>(`SELECT destination FROM ${s}.tokenlay_billing_cursors ORDER BY destination`);
      return rows.map((r) => r.destination);
    },
    async pushed(destination, from, to) {
      const { rows } = await pool.query<{ id: string; customer: string; value: string; time: string }>(
        `SELECT id, customer, value, time FROM ${s}.tokenlay_billing_pushed WHERE destination = $1 AND time >= $2 AND time < $3 ORDER BY time, id`,
        [destination, from, to],
      );
      return rows.map((r) => ({ ...r, time: Number(r.time) }));
    },
    async held(destination, from, to) {
      const { rows } = await pool.query<{ id: string; position: string; reason: string; detail: string; time: string }>(
        `SELECT id, position, reason, detail, time FROM ${s}.tokenlay_billing_held WHERE destination = $1 AND time >= $2 AND time < $3 ORDER BY position`,
        [destination, from, to],
      );
      return rows.map((r) => ({ ...r, position: Number(r.position), time: Number(r.time) }));
    },
    async rowsBetween(from, to) {
      const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM ${s}.tokenlay_ledger WHERE time >= $1 AND time < $2 ORDER BY seq`, [from, to]);
      return rows.map(billable);
    },
    async close() {
      await pool.end();
    },
  };
}
