import { CostSum } from './money.js';
import { isCreditGrant } from './overrides.js';
import type { LedgerQuery, LedgerRow, TokenlayStore, WindowName } from './types.js';

/** What usage can be grouped by: an attribution field, or the model used. */
export const USAGE_GROUPS = ['user', 'org', 'plan', 'project', 'feature', 'model'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** The windows a summary may cover: the current UTC-aligned one (`total`: all time). */
export const USAGE_WINDOWS: readonly WindowName[] = ['minute', 'hour', 'day', 'month', 'year', 'total'];

/** What {@link summarizeUsage} reads. */
export interface UsageSummaryQuery {
  groupBy: UsageGroup;
  /**
   * Where the current window began, ms since epoch (the caller takes it from the policy's
   * `windowBounds`, e.g. `day` = 00:00 UTC today); with `from`, the later of the two applies.
   */
  windowStart?: number;
  /** Inclusive lower bound, ms since epoch; with `windowStart`, the later of the two applies. */
  from?: number;
  /** Exclusive upper bound, ms since epoch. */
  to?: number;
  /** Only rows whose `account` field is this (the gateway's key name). */
  account?: string;
}

/** One group: `{ user: 'ann', requests: 3, input_tokens: 33, output_tokens: 21, cost: 0.0003 }`. */
export type UsageSummaryRow = { [group: string]: string | number } & {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  /** USD. */
  cost: number;
};

/** The value a row is grouped under; rows without the field share `(none)`, as counters do. */
export function groupValue(row: LedgerRow, groupBy: UsageGroup): string {
  if (groupBy === 'model') return row.modelUsed ?? row.modelRequested ?? '(none)';
  return row.fields[groupBy] ?? '(none)';
}

/** Sums ledger rows per group, most expensive first (then by name). Every row counts as one request. */
export function groupUsage(rows: Iterable<LedgerRow>, groupBy: UsageGroup): UsageSummaryRow[] {
  const groups = new Map<string, { requests: number; input: number; output: number; cost: CostSum }>();
  for (const row of rows) {
    if (isCreditGrant(row)) continue;
    const key = groupValue(row, groupBy);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { requests: 0, input: 0, output: 0, cost: new CostSum() }));
    g.requests += 1;
    g.input += row.inputTokens;
    g.output += row.outputTokens;
    g.cost.add(row.cost);
  }
  return [...groups]
    .map(([key, g]) => ({
      [groupBy]: key,
      requests: g.requests,
      input_tokens: g.input,
      output_tokens: g.output,
      // Summed in whole 1e-10 USD units: exact, whatever the number of rows.
      cost: g.cost.usd,
    }) as UsageSummaryRow)
    .sort((a, b) => b.cost - a.cost || String(a[groupBy]).localeCompare(String(b[groupBy])));
}

/** The ledger query for a summary: the window and from/to combined, the account as a field filter. */
export function usageLedgerQuery(q: UsageSummaryQuery): LedgerQuery {
  let since = q.from;
  if (q.windowStart !== undefined) since = since === undefined ? q.windowStart : Math.max(since, q.windowStart);
  const query: LedgerQuery = {};
  if (since !== undefined) query.since = since;
  if (q.to !== undefined) query.until = q.to;
  if (q.account !== undefined) query.fields = { account: q.account };
  return query;
}

/**
 * Usage per user, org, plan, project, feature or model over the store's ledger: the read-out behind
 * the gateway's `GET /v1/usage`, the dashboard and `tokenlay usage`.
 */
export async function summarizeUsage(store: Pick<TokenlayStore, 'ledger'>, q: UsageSummaryQuery): Promise<UsageSummaryRow[]> {
  return groupUsage(await store.ledger(usageLedgerQuery(q)), q.groupBy);
}
