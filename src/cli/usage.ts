import Table from 'cli-table3';
import { formatUsd, formatUsdFixed } from '../store/money.js';
import { breakdownUsage, costUnitsOf, USAGE_GROUPINGS, type UsageGroupBy, type UsageSummary, type UsageTotals } from '../store/usage-breakdown.js';
import { commandFlags } from './flags.js';
import { LEDGER_HELP, openLedger } from './ledger-source.js';
import { resolvePeriod, type Period } from './period.js';
import { csvLine } from './csv.js';

const HELP = `Usage: tokenlay usage [options]

Prints usage and cost (USD) grouped by a field, with totals. "calls" are the
calls sent to a provider; calls a rule or limit refused are counted apart, as
"refused" (the JSON and CSV name them "blocked").

Options:
  --by user|org|plan|project|feature|model
        what to group by (default: user)
  --window day|week|month
        the current UTC day, week (from Monday) or month (default: month)
  --from DATE, --to DATE
        an ISO 8601 range instead (--to is exclusive; default now)
${LEDGER_HELP}
  --json
        print JSON
  --csv
        print CSV
`;

/** USD to 4 decimals (6 below $0.0001, so that small calls show), rounded on whole 1e-10 USD units. */
export function usd(units: bigint): string {
  const small = units !== 0n && units < 1_000_000n && units > -1_000_000n;
  return '$' + formatUsdFixed(units, small ? 6 : 4);
}

const int = (n: number) => n.toLocaleString('en-US');

function tableOf(summary: UsageSummary): string {
  const head = [summary.groupBy, 'calls', 'refused', 'input tokens', 'output tokens', 'cost (USD)'];
  const table = new Table({
    head,
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right'],
    style: { head: [], border: [] },
  });
  const line = (key: string, t: UsageTotals) => [key, int(t.calls), int(t.blocked), int(t.inputTokens), int(t.outputTokens), usd(costUnitsOf(t))];
  for (const g of summary.groups) table.push(line(g.key, g));
  table.push(line('total', summary.total));
  return table.toString();
}

function jsonOf(summary: UsageSummary, period: Period & { window: string }): string {
  return JSON.stringify(
    { by: summary.groupBy, from: new Date(period.from).toISOString(), to: new Date(period.to).toISOString(), groups: summary.groups, total: summary.total },
    null,
    2,
  );
}

function csvOf(summary: UsageSummary): string {
  const lines = [csvLine([summary.groupBy, 'calls', 'blocked', 'input_tokens', 'output_tokens', 'cached_tokens', 'cost_usd'])];
  for (const g of summary.groups) lines.push(csvLine([g.key, g.calls, g.blocked, g.inputTokens, g.outputTokens, g.cachedTokens, formatUsd(costUnitsOf(g))]));
  return lines.join('\n');
}

/** `tokenlay usage`: usage and cost grouped by a field over a period, as a table, JSON or CSV. */
export async function run(argv: string[]): Promise<number> {
  const values = commandFlags('usage', argv, {
    by: { type: 'string' },
    window: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    store: { type: 'string' },
    ledger: { type: 'string' },
    json: { type: 'boolean' },
    csv: { type: 'boolean' },
  }, HELP);
  if (typeof values === 'number') return values;
  try {
    const by = (values.by ?? 'user') as UsageGroupBy;
    if (!(USAGE_GROUPINGS as readonly string[]).includes(by)) {
      throw new Error(`--by "${values.by}" cannot group usage; use one of ${USAGE_GROUPINGS.join('|')}.`);
    }
    if (values.json && values.csv) throw new Error('--json and --csv both given; pick one.');
    const period = resolvePeriod(values, Date.now());
    const store = openLedger('tokenlay usage', values);
    let summary: UsageSummary;
    try {
      summary = breakdownUsage(await store.ledger({ since: period.from, until: period.to }), { groupBy: by });
    } finally {
      await store.close();
    }
    if (values.json) console.log(jsonOf(summary, period));
    else if (values.csv) console.log(csvOf(summary));
    else {
      console.log(`Usage by ${by}, ${new Date(period.from).toISOString()} to ${new Date(period.to).toISOString()}`);
      console.log(tableOf(summary));
    }
    return 0;
  } catch (err) {
    console.error(`tokenlay usage: ${(err as Error).message.replace(/^tokenlay usage: /, '')}`);
    return 1;
  }
}
