import { TokenlayConfigError } from '../errors.js';
import type { Pool } from 'pg';
import { storeClosedError } from './closed-error.js';
import { copyLedgerRow } from './ledger-filter.js';
import { createPool } from './postgres-driver.js';
import { dropOldPartitions, ensurePartitions, ident, migrate, monthStart } from './postgres-schema.js';
import { adoptDeadSpools, defaultSpoolPath, Spool, type Segment, type SpooledRow } from './postgres-spool.js';
import { redactUrl } from './redact.js';
import { costUnits, usdOf } from './money.js';
import type { Ledger, LedgerQuery, LedgerRow } from './types.js';

/** Options of {@link createPostgresLedger}. */
export interface PostgresLedgerOptions {
  /** `postgres://user:password@host:5432/db` (or `postgresql://`). */
  url: string;
  /** The schema holding `tokenlay_ledger` and `tokenlay_migrations`; created if missing. Default `'public'`. */
  schema?: string;
  /**
   * The local spool file every row is appended to before it is sent, replayed at start. One per
   * instance. Default: env `TOKENLAY_LEDGER_SPOOL`, else `./.tokenlay/ledger-<host>-<pid>.spool`,
   * one per process; with that default, the spools left in `./.tokenlay/` by instances that died
   * (their process gone) are taken over and replayed at start. `false`: no spool, for readers of
   * the ledger (the usage CLI) that record nothing.
   */
  spoolPath?: string | false;
  /** Queued rows that trigger a write. Default 100. */
  batchSize?: number;
  /** Longest a row waits before it is written. Default 1000 ms. */
  flushIntervalMs?: number;
  /**
   * Monthly partitions kept besides the current month; older ones are dropped at start (one
   * `DROP TABLE` each). Default: keep every partition.
   */
  retainMonths?: number;
  /** Connections in the pool. Default 4. */
  poolSize?: number;
  /** Told about every background write that failed (its rows stay spooled and are retried). Default: nothing (the outage line of `log` says it once). */
  onError?: (error: unknown) => void;
  /**
   * Where the one line per outage (PostgreSQL unreachable: rows kept in the spool) and the one
   * line per recovery (rows written again) go. Default `console.warn`.
   */
  log?: (line: string) => void;
}

/** How the Postgres ledger has fared: for a health endpoint or a metric. */
export interface PostgresLedgerHealth {
  /** False from a failed write until the next one that succeeds. */
  available: boolean;
  /** Outages since the ledger was created. */
  outages: number;
  /** Recoveries (a write succeeding after an outage) since the ledger was created. */
  recoveries: number;
  /** Rows recorded but not yet committed to PostgreSQL (kept in the spool meanwhile). */
  pendingRows: number;
}

/** The Postgres ledger, with a way to wait until it is ready. */
export interface PostgresLedger extends Ledger {
  /** Resolves once migrations ran and the spool left by an earlier process was replayed; rejects if not. */
  ready(): Promise<void>;
  /** Rows recorded but not yet committed to Postgres. */
  readonly pending: number;
  /** Availability, outages, recoveries and rows waiting: what the gateway's `/metrics` exports. */
  health(): PostgresLedgerHealth;
}

export interface DbRow {
  time: string;
  fields: Record<string, string>;
  model_requested: string | null;
  model_used: string | null;
  endpoint: string;
  input_tokens: string;
  output_tokens: string;
  cached_tokens: string;
  cost_units: string;
  rule_id: string | null;
  action: string | null;
  status: number;
  latency_ms: number;
  estimated: boolean;
  estimate_reason: string | null;
}

export function fromDb(r: DbRow): LedgerRow {
  return {
    time: Number(r.time),
    fields: r.fields,
    modelRequested: r.model_requested,
    modelUsed: r.model_used,
    endpoint: r.endpoint,
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    cachedTokens: Number(r.cached_tokens),
    // bigint comes back as a string: exact, whatever its size.
    cost: usdOf(BigInt(r.cost_units)),
    ruleId: r.rule_id,
    action: r.action,
    status: r.status,
    latencyMs: r.latency_ms,
    estimated: r.estimated,
    ...(r.estimate_reason === null ? {} : { estimateReason: r.estimate_reason }),
  };
}

/** The spool of a reader: rows live only in memory until written (nothing survives a crash). */
function memorySpool(): Pick<Spool, 'leftovers' | 'rotate' | 'done' | 'append' | 'close'> {
  return {
    leftovers: () => [],
    rotate: (rows: SpooledRow[]) => (rows.length ? { file: '', rows } : undefined),
    done: () => {},
    append: () => {},
    close: () => {},
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COLUMNS = 16;
// 16 parameters a row stays far under Postgres's 65 535 parameters a statement.
const ROWS_PER_INSERT = 1000;

/**
 * The usage ledger on PostgreSQL, shared by every instance. Rows are appended to a local spool
 * file, then written in batches (`INSERT … ON CONFLICT DO NOTHING` on the call's idempotency key,
 * so a retried or replayed batch never duplicates). Migrations are versioned and run at start.
 * `tokenlay_ledger` is partitioned by UTC month (created on demand); old months are kept unless
 * `retainMonths` says otherwise.
 *
 * @throws an Error with "npm install pg" when the package is missing, or naming a bad option.
 */
export function createPostgresLedger(opts: PostgresLedgerOptions): PostgresLedger {
  if (!/^postgres(ql)?:\/\//i.test(opts.url ?? '')) {
    throw new TokenlayConfigError(`tokenlay: ledger URL "${redactUrl(String(opts.url))}" is not a Postgres URL; use "postgres://user:password@host:5432/db".`);
  }
  const where = redactUrl(opts.url);
  const schema = opts.schema ?? 'public';
  const s = ident(schema);
  const batchSize = Math.max(1, opts.batchSize ?? 100);
  const onError = opts.onError ?? (() => {});
  const log = opts.log ?? ((line: string) => console.warn(line));
  // A connection PostgreSQL ended (restart, failover, pg_terminate_backend) is an outage: the
  // write it carried fails and is retried from the spool; it never crashes the process.
  const pool: Pool = createPool({ connectionString: opts.url, max: opts.poolSize ?? 4 }, (error) => down(error));
  const named = opts.spoolPath ?? (process.env.TOKENLAY_LEDGER_SPOOL || undefined);
  const spool = named === false ? memorySpool() : new Spool(named ?? defaultSpoolPath());
  const spoolName = named === false ? 'memory' : (spool as Spool).path;
  // With the default, per-process names, a dead instance's spool is this one's to replay.
  const adopted = named === undefined ? adoptDeadSpools((spool as Spool).path) : [];

  // Segments waiting for Postgres, oldest first; `queue` is what the live spool file holds.
  const segments: Segment[] = spool.leftovers();
  for (const dead of adopted.splice(0)) {
    const rows = dead.leftovers();
    // Nothing left to write (its owner closed cleanly): only the files to remove.
    if (rows.length === 0) dead.retire();
    else {
      segments.push(...rows);
      adopted.push(dead);
    }
  }
  let queue: SpooledRow[] = [];
  const months = new Set<number>();
  let closed = false;
  let outageSince: number | null = null;
  let outages = 0;
  let recoveries = 0;
  const pendingRows = () => queue.length + segments.reduce((n, seg) => n + seg.rows.length, 0);

  function down(error: unknown): void {
    if (outageSince !== null || closed) return;
    outageSince = Date.now();
    outages++;
    log(`tokenlay: PostgreSQL ledger ${where} is unreachable (${(error as Error)?.message ?? String(error)}); rows are kept in the spool ${spoolName} and written once it is back.`);
  }

  function up(): void {
    if (outageSince === null) return;
    const lasted = Date.now() - outageSince;
    outageSince = null;
    recoveries++;
    log(`tokenlay: PostgreSQL ledger ${where} is reachable again after ${lasted} ms; ${pendingRows()} spooled row(s) to write.`);
  }

  const setUp = async () => {
    await migrate(pool, schema);
    if (opts.retainMonths !== undefined) await dropOldPartitions(pool, schema, opts.retainMonths, Date.now());
  };
  const first = setUp();
  // Observed here so an unreachable database is reported by ready()/flush(), not as an unhandled rejection.
  first.catch(() => {});
  let started = first;
  /** Migrations done: the first attempt, or (once it failed: PostgreSQL was down at start) a new one. */
  function ensureStarted(): Promise<void> {
    started = started.catch(() => setUp());
    return started;
  }

  async function insert(rows: SpooledRow[]): Promise<void> {
    const client = await pool.connect();
    try {
      const needed = [...new Set(rows.map((r) => monthStart(r.row.time)))].filter((m) => !months.has(m));
      if (needed.length) {
        await ensurePartitions(client, schema, needed);
        for (const m of needed) months.add(m);
      }
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const chunk = rows.slice(i, i + ROWS_PER_INSERT);
        const params: unknown[] = [];
        const values = chunk.map(({ k, row }, j) => {
          params.push(k, row.time, JSON.stringify(row.fields), row.modelRequested, row.modelUsed, row.endpoint, row.inputTokens, row.outputTokens,
            row.cachedTokens, costUnits(row.cost), row.ruleId, row.action, row.status, row.latencyMs, row.estimated, row.estimateReason ?? null);
          return `(${Array.from({ length: COLUMNS }, (_, c) => `$${j * COLUMNS + c + 1}`).join(', ')})`;
        });
        await client.query(
          `INSERT INTO ${s}.tokenlay_ledger (call_id, time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens,
             cached_tokens, cost_units, rule_id, action, status, latency_ms, estimated, estimate_reason)
           VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`,
          params,
        );
      }
    } finally {
      client.release();
    }
  }

  let flushing: Promise<void> | undefined;
  function flushOnce(): Promise<void> {
    flushing ??= (async () => {
      try {
        await ensureStarted();
        const current = spool.rotate(queue);
        queue = [];
        if (current) segments.push(current);
        // An outage seen on an idle connection, with nothing to write: ask PostgreSQL whether it is back.
        if (segments.length === 0 && outageSince !== null) await pool.query('SELECT 1');
        while (segments.length > 0) {
          await insert(segments[0].rows);
          spool.done(segments[0]);
          segments.shift();
        }
        for (const dead of adopted.splice(0)) dead.retire();
        up();
      } catch (error) {
        down(error);
        throw error;
      } finally {
        flushing = undefined;
      }
    })();
    return flushing;
  }

  async function flush(): Promise<void> {
    // A flush already running may have rotated before the caller's rows arrived: run once more.
    if (flushing) await flushing.catch(() => {});
    await flushOnce();
  }

  function background(): void {
    if (closed || (queue.length === 0 && segments.length === 0 && outageSince === null)) return;
    flushOnce().catch(onError);
  }

  const timer = setInterval(background, opts.flushIntervalMs ?? 1000);
  timer.unref();
  // Replay what an earlier process left as soon as the schema is there.
  if (segments.length > 0) first.then(background, () => {});

  function ensureOpen(method: string): void {
    if (closed) throw storeClosedError('Postgres ledger', method);
  }

  return {
    ready: async () => {
      await first;
      if (segments.length > 0) await flush();
    },
    get pending() {
      return pendingRows();
    },
    health() {
      return { available: outageSince === null, outages, recoveries, pendingRows: pendingRows() };
    },
    record(row, callId) {
      ensureOpen('record');
      // Keyed by the call's own id when it has one: its lost-holder row and its late row are one.
      const entry = { k: callId !== undefined && UUID.test(callId) ? callId : globalThis.crypto.randomUUID(), row: copyLedgerRow(row) };
      spool.append(entry);
      queue.push(entry);
      if (queue.length >= batchSize) background();
    },
    async flush() {
      ensureOpen('flush');
      await flush();
    },
    async ledger(query: LedgerQuery = {}) {
      ensureOpen('ledger');
      await flush();
      const where: string[] = [];
      const params: unknown[] = [];
      if (query.since !== undefined) where.push(`time >= $${params.push(query.since)}`);
      if (query.until !== undefined) where.push(`time < $${params.push(query.until)}`);
      if (query.fields && Object.keys(query.fields).length > 0) where.push(`fields @> $${params.push(JSON.stringify(query.fields))}::jsonb`);
      const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const cols = 'time, seq, fields, model_requested, model_used, endpoint, input_tokens, output_tokens, cached_tokens, cost_units, rule_id, action, status, latency_ms, estimated, estimate_reason';
      const sql =
        query.limit !== undefined
          ? `SELECT * FROM (SELECT ${cols} FROM ${s}.tokenlay_ledger ${filter} ORDER BY time DESC, seq DESC LIMIT $${params.push(query.limit)}) t ORDER BY time, seq`
          : `SELECT ${cols} FROM ${s}.tokenlay_ledger ${filter} ORDER BY time, seq`;
      const { rows } = await pool.query<DbRow>(sql, params);
      return rows.map(fromDb);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      try {
        await flush();
      } catch (error) {
        // The rows are on disk in the spool; the next start with this spool writes them.
        onError(error);
      } finally {
        // A per-process spool left empty is removed, so restarts do not pile up files; its segments
        // not yet written stay, for the next instance started in this folder.
        if (named === undefined) (spool as Spool).retire();
        else spool.close();
        // Rows of a dead instance not yet written stay in its spool, for the next start.
        for (const dead of adopted.splice(0)) dead.close();
        await pool.end();
      }
    },
  };
}
