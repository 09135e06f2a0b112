import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import cliProgress from 'cli-progress';
import type { LedgerRow } from '../store/types.js';
import { csvLine } from './csv.js';
import { commandFlags } from './flags.js';
import { LEDGER_HELP, openLedger } from './ledger-source.js';
import { parseTime } from './period.js';

const HELP = `Usage: tokenlay export --csv FILE [options]

Writes the usage ledger to a CSV file, one line a call (never prompts or keys).

Options:
  --csv FILE
        the file to write ("-" for standard output)
  --from DATE, --to DATE
        only calls in this ISO 8601 range (--to is exclusive)
${LEDGER_HELP}
  --progress
        always show the progress bar (default: on a terminal, from ${'1,000'} rows)
`;

/** The columns of an export, in order. */
export const EXPORT_COLUMNS = [
  'time',
  'user',
  'org',
  'plan',
  'project',
  'feature',
  'fields',
  'model_requested',
  'model_used',
  'endpoint',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'cost_usd',
  'rule_id',
  'action',
  'status',
  'latency_ms',
  'estimated',
  'estimate_reason',
] as const;

/** Rows from which a terminal shows a progress bar. */
const BIG_LEDGER = 1000;

function lineOf(row: LedgerRow): string {
  const f = row.fields;
  return csvLine([
    new Date(row.time).toISOString(),
    f.user,
    f.org,
    f.plan,
    f.project,
    f.feature,
    JSON.stringify(f),
    row.modelRequested,
    row.modelUsed,
    row.endpoint,
    row.inputTokens,
    row.outputTokens,
    row.cachedTokens,
    row.cost,
    row.ruleId,
    row.action,
    row.status,
    row.latencyMs,
    row.estimated,
    row.estimateReason,
  ]);
}

async function write(out: WriteStream | NodeJS.WriteStream, text: string): Promise<void> {
  // Respect backpressure: a big ledger is written as fast as the disk takes it, not buffered whole.
  if (!out.write(text)) await once(out, 'drain');
}

/** `tokenlay export --csv FILE`: the ledger as CSV, with a progress bar for big ledgers. */
export async function run(argv: string[]): Promise<number> {
  const values = commandFlags('export', argv, {
    csv: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    store: { type: 'string' },
    ledger: { type: 'string' },
    progress: { type: 'boolean' },
  }, HELP);
  if (typeof values === 'number') return values;
  try {
    if (values.csv === undefined || values.csv === '') throw new Error('name the file to write with --csv FILE (e.g. --csv usage.csv, or --csv - for standard output).');
    const since = values.from === undefined ? undefined : parseTime('--from', values.from);
    const until = values.to === undefined ? undefined : parseTime('--to', values.to);
    if (since !== undefined && until !== undefined && since >= until) throw new Error(`--from (${values.from}) must be before --to (${values.to}).`);
    const store = openLedger('tokenlay export', values);
    let rows: LedgerRow[];
    try {
      rows = await store.ledger({ ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }) });
    } finally {
      await store.close();
    }
    const toStdout = values.csv === '-';
    const out = toStdout ? process.stdout : createWriteStream(values.csv, { flags: 'w' });
    if (!toStdout) await once(out as WriteStream, 'open');
    const showBar = !toStdout && (values.progress === true || (process.stderr.isTTY && rows.length >= BIG_LEDGER));
    const bar = showBar
      ? new cliProgress.SingleBar(
          { format: 'exporting [{bar}] {percentage}% | {value}/{total} rows', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 1000, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    bar?.start(rows.length, 0);
    await write(out, csvLine(EXPORT_COLUMNS) + '\n');
    let i = 0;
    for (const row of rows) {
      await write(out, lineOf(row) + '\n');
      if (++i % 500 === 0) bar?.update(i);
    }
    bar?.update(rows.length);
    bar?.stop();
    if (!toStdout) {
      (out as WriteStream).end();
      await once(out as WriteStream, 'finish');
      console.error(`tokenlay export: wrote ${rows.length} rows to ${values.csv}`);
    }
    return 0;
  } catch (err) {
    console.error(`tokenlay export: ${(err as Error).message.replace(/^tokenlay export: /, '')}`);
    return 1;
  }
}
