import { createRequire } from 'node:module';
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import type { LedgerRow } from '../store/types.js';
import { ACCOUNT_FIELD } from './call-headers.js';

/** `json`: one JSON object a line (for log shippers); `pretty`: coloured lines for a terminal. */
export type LogFormat = 'json' | 'pretty';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  format?: LogFormat;
  /** pino level: `trace` … `fatal`, or `silent`. Default `info`. */
  level?: string;
  /**
   * Where lines go. Default: standard output, written a batch at a time: up to
   * {@link LOG_BATCH_BYTES} of lines, or every {@link LOG_FLUSH_MS} ms, whichever comes first,
   * and all of it when the process exits.
   */
  destination?: DestinationStream | NodeJS.WritableStream;
}

/**
 * Bytes of log lines gathered before they are written to standard output (about ten call lines).
 * A write per line costs each call a system call and a thread-pool round trip, several percent of
 * the gateway's CPU per call.
 */
export const LOG_BATCH_BYTES = 4096;
/** ms a line waits at most in the batch, so that a quiet gateway's lines still show up at once to a reader. */
export const LOG_FLUSH_MS = 100;

/**
 * The gateway's logger (pino). Lines carry no keys, prompts or answers: the gateway only ever logs
 * the ledger's view of a call and its own refusals.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const base = { level: opts.level ?? 'info', base: undefined, timestamp: stdTimeFunctions.isoTime };
  if (opts.format === 'pretty') {
    // Loaded only when asked for: most deployments log JSON.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => DestinationStream;
    return pino(base, pretty({ destination: opts.destination ?? 1, colorize: opts.destination === undefined && process.stdout.isTTY, sync: true }));
  }
  // pino writes what is left of the batch when the process exits (pino.destination registers it).
  return pino(base, (opts.destination as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }));
}

/** One call as a log line: time, account, fields, models, status, rule, action, tokens, cost (USD), why it is estimated, latency, and the client's address. */
export function callLine(row: LedgerRow, client: string | null): Record<string, unknown> {
  const { [ACCOUNT_FIELD]: account, ...fields } = row.fields;
  return {
    account: account ?? null,
    fields,
    endpoint: row.endpoint,
    model_requested: row.modelRequested,
    model_used: row.modelUsed,
    status: row.status,
    rule: row.ruleId,
    action: row.action,
    input_tokens: row.inputTokens,
    output_tokens: row.outputTokens,
    cost: row.cost,
    estimated: row.estimated,
    estimate_reason: row.estimateReason ?? null,
    latency_ms: row.latencyMs,
    client,
  };
}
