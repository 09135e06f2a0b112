import { TokenlayConfigError } from '../config-error.js';
import type { Pool } from 'pg';
import { storeClosedError } from './closed-error.js';
import { copyLedgerRow } from './ledger-filter.js';
import { loadPg } from './postgres-driver.js';
import { dropOldPartitions, ensurePartitions, ident, migrate, monthStart } from './postgres-schema.js';
import { Spool, type Segment, type SpooledRow } from './postgres-spool.js';
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
   * instance. Default: env `TOKENLAY_LEDGER_SPOOL`, else `./.tokenlay/ledger.spool`. `false`: no
   * spool, for readers of the ledger (the usage CLI) that record nothing.
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
  /** Told about a background write that failed (its rows stay spooled and are retried). Default: `console.warn`. */
  onError?: (error: unknown) => void;
}

/** The Postgres ledger, with a way to wait until it is ready. */
export interface PostgresLedger extends Ledger {
  /** Resolves once migrations ran and the spool left by an earlier process was replayed; rejects if not. */
  ready(): Promise<void>;
  /** Rows recorded but not yet committed to Postgres. */
  readonly pending: number;
}

interface DbRow {
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

function fromDb(r: DbRow): LedgerRow {
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
  const onError = opts.onError ?? ((error: unknown) => console.warn(`tokenlay: writing the usage ledger to ${where} failed; the rows stay spooled and will be retried:`, (error as Error)?.message ?? error));
  const { Pool } = loadPg();
  const pool: Pool = new Pool({ connectionString: opts.url, max: opts.poolSize ?? 4 });
  // An idle client losing its connection must not crash the app; the next write retries.
  pool.on('error', () => {});
  const spool = opts.spoolPath === false ? memorySpool() : new Spool(opts.spoolPath ?? (process.env.TOKENLAY_LEDGER_SPOOL || './.tokenlay/ledger.spool'));

  // Segments waiting for Postgres, oldest first; `queue` is what the live spool file holds.
  const segments: Segment[] = spool.leftovers();
  let queue: SpooledRow[] = [];
  const months = new Set<number>();
  let closed = false;

  const started = (async () => {
    await migrate(pool, schema);
    if (opts.retainMonths !== undefined) await dropOldPartitions(pool, schema, opts.retainMonths, Date.now());
  })();
  // Observed here so an unreachable database is reported by ready()/flush(), not as an unhandled rejection.
  started.catch(() => {});

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
        await started;
        const current = spool.rotate(queue);
        queue = [];
        if (current) segments.push(current);
        while (segments.length > 0) {
          await insert(segments[0].rows);
          spool.done(segments[0]);
          segments.shift();
        }
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
    if (closed || (queue.length === 0 && segments.length === 0)) return;
    flushOnce().catch(onError);
  }

  const timer = setInterval(background, opts.flushIntervalMs ?? 1000);
  timer.unref();
  // Replay what an earlier process left as soon as the schema is there.
  if (segments.length > 0) started.then(background, () => {});

  function ensureOpen(method: string): void {
    if (closed) throw storeClosedError('Postgres ledger', method);
  }

  return {
    ready: async () => {
      await started;
      if (segments.length > 0) await flush();
    },
    get pending() {
      return queue.length + segments.reduce((n, seg) => n + seg.rows.length, 0);
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
        spool.close();
        await pool.end();
      }
    },
  };
}
