import type { SqliteDatabase } from './sqlite-driver.js';
import { isBusy } from './sqlite-busy.js';
import { costUnits, usdOf } from './money.js';
import type { LedgerQuery, LedgerRow } from './types.js';

export interface LedgerDbRow {
  time: number;
  fields: string;
  model_requested: string | null;
  model_used: string | null;
  endpoint: string;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost_units: number;
  rule_id: string | null;
  action: string | null;
  status: number;
  latency_ms: number;
  estimated: number;
  estimate_reason: string | null;
}

export function fromDb(row: LedgerDbRow): LedgerRow {
  return {
    time: row.time,
    fields: JSON.parse(row.fields) as Record<string, string>,
    modelRequested: row.model_requested,
    modelUsed: row.model_used,
    endpoint: row.endpoint,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cachedTokens: row.cached_tokens,
    cost: usdOf(row.cost_units),
    ruleId: row.rule_id,
    action: row.action,
    status: row.status,
    latencyMs: row.latency_ms,
    estimated: row.estimated === 1,
    ...(row.estimate_reason === null ? {} : { estimateReason: row.estimate_reason }),
  };
}

/** Options of {@link createLedgerWriter}. */
export interface LedgerWriterOptions {
  /** Queued rows that trigger a write. */
  batchSize: number;
  /** Longest a queued row waits before it is written. */
  flushIntervalMs: number;
  /** Told about a background write that failed; its rows stay queued for the next attempt. */
  onError: (error: unknown) => void;
}

/** The SQLite usage ledger: rows are queued in memory and written in one transaction per batch. */
export interface LedgerWriter {
  record(row: LedgerRow): void;
  /** Inserts one row at once, inside the caller's transaction. */
  insert(row: LedgerRow): void;
  /** Writes queued rows now; throws if the write fails (the rows stay queued). */
  flushSync(): void;
  query(query: LedgerQuery): LedgerRow[];
  /** Rows waiting to be written. */
  readonly pending: number;
  stop(): void;
}

/** Creates the batching writer over the `ledger` table of `db`. */
export function createLedgerWriter(db: SqliteDatabase, opts: LedgerWriterOptions): LedgerWriter {
  const insert = db.prepare(
    `INSERT INTO ledger (time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens,
       cached_tokens, cost_units, rule_id, action, status, latency_ms, estimated, estimate_reason)
     VALUES (@time, @fields, @modelRequested, @modelUsed, @endpoint, @inputTokens, @outputTokens,
       @cachedTokens, @costUnits, @ruleId, @action, @status, @latencyMs, @estimated, @estimateReason)`,
  );
  const insertRow = (row: LedgerRow) =>
    insert.run({
      time: row.time,
      fields: JSON.stringify(row.fields),
      modelRequested: row.modelRequested,
      modelUsed: row.modelUsed,
      endpoint: row.endpoint,
      inputTokens: row.inputTokens,
      outputTokens: row.outputTokens,
      cachedTokens: row.cachedTokens,
      costUnits: costUnits(row.cost),
      ruleId: row.ruleId,
      action: row.action,
      status: row.status,
      latencyMs: row.latencyMs,
      estimated: row.estimated ? 1 : 0,
      estimateReason: row.estimateReason ?? null,
    });
  const writeBatch = db.transaction((rows: LedgerRow[]) => {
    for (const row of rows) insertRow(row);
  });
  let queue: LedgerRow[] = [];

  function flushSync(): void {
    if (queue.length === 0) return;
    // On failure the rows stay queued for the next attempt.
    writeBatch.immediate(queue);
    queue = [];
  }

  function flushInBackground(): void {
    try {
      flushSync();
    } catch (error) {
      // Another process holds the lock: the rows stay queued for the next tick, nothing to report.
      if (!isBusy(error)) opts.onError(error);
    }
  }

  const timer = setInterval(flushInBackground, opts.flushIntervalMs);
  // A pending ledger write must not keep the app alive; close() and the exit hook write the rest.
  timer.unref();

  return {
    record(row) {
      queue.push({ ...row, fields: { ...row.fields } });
      if (queue.length >= opts.batchSize) flushInBackground();
    },
    insert: insertRow,
    flushSync,
    query(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (query.since !== undefined) {
        where.push('time >= ?');
        params.push(query.since);
      }
      if (query.until !== undefined) {
        where.push('time < ?');
        params.push(query.until);
      }
      for (const [name, value] of Object.entries(query.fields ?? {})) {
        // json_each matches any field name exactly, with no JSON-path quoting to get wrong.
        where.push('EXISTS (SELECT 1 FROM json_each(ledger.fields) WHERE json_each.key = ? AND json_each.value = ?)');
        params.push(name, value);
      }
      const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
      // The most recent `limit` rows, returned oldest first.
      const sql =
        query.limit !== undefined
          ? `SELECT * FROM (SELECT * FROM ledger ${filter} ORDER BY time DESC, id DESC LIMIT ?) ORDER BY time, id`
          : `SELECT * FROM ledger ${filter} ORDER BY time, id`;
      if (query.limit !== undefined) params.push(query.limit);
      return (db.prepare(sql).all(...params) as LedgerDbRow[]).map(fromDb);
    },
    get pending() {
      return queue.length;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
