import { isCreditGrant } from './overrides.js';
import { CostSum } from './money.js';
import type { LedgerRow } from './types.js';
import { groupValue, USAGE_GROUPS } from './usage-summary.js';

/**
 * What usage can be grouped by: an attribution field (`user`, `org`, `plan`, `project`,
 * `feature`, or any custom field), or `model` (the model that answered, else the one asked for).
 */
export type UsageGroupBy = 'user' | 'org' | 'plan' | 'project' | 'feature' | 'model' | (string & {});

/** The groupings the CLI and the dashboard offer (the gateway's usage API's). */
export const USAGE_GROUPINGS = USAGE_GROUPS;

/** The group a row without the grouped field falls into. */
export const NO_VALUE = '(none)';

/** Usage totals of a set of ledger rows. Tokens are counts; `cost` is USD. */
export interface UsageTotals {
  /**
   * Calls tokenlay let through to the provider (answered, or failed there); refused calls are not
   * calls here but `blocked`. The same meaning in the dashboard, `tokenlay usage` and the demo.
   */
  calls: number;
  /** Calls a rule or limit refused (`action` block or queue with a 4xx), never sent to a provider. */
  blocked: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** `inputTokens + outputTokens`. */
  tokens: number;
  /** USD. */
  cost: number;
}

/** One group of {@link breakdownUsage}. */
export interface UsageGroup extends UsageTotals {
  /** The grouped field's value, or {@link NO_VALUE}. */
  key: string;
}

/** Options of {@link breakdownUsage}. */
export interface SummarizeOptions {
  groupBy: UsageGroupBy;
  /** Order of the groups: by cost, highest first (default), or by key. */
  sort?: 'cost' | 'key';
}

/** The result of {@link breakdownUsage}: groups and their grand total. */
export interface UsageSummary {
  groupBy: UsageGroupBy;
  groups: UsageGroup[];
  total: UsageTotals;
}

/** A row refused by tokenlay: billed nothing, counted as blocked. */
export function isBlocked(row: LedgerRow): boolean {
  return (row.action === 'block' || row.action === 'queue' || row.action === 'refuse') && row.status >= 400;
}

/** The value a row has for a grouping: the same as the gateway's usage API. */
export function groupKey(row: LedgerRow, groupBy: UsageGroupBy): string {
  if (groupBy === 'model' || (USAGE_GROUPS as readonly string[]).includes(groupBy)) {
    const value = groupValue(row, groupBy as (typeof USAGE_GROUPS)[number]);
    return value === '' ? NO_VALUE : value;
  }
  const value = row.fields[groupBy];
  return value === undefined || value === '' ? NO_VALUE : value;
}

/** All-zero totals. */
export function emptyTotals(): UsageTotals {
  return { calls: 0, blocked: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, tokens: 0, cost: 0 };
}

// The exact cost of each set of totals, in 1e-10 USD units: `cost` is its USD view, and adding
// USD floats would drift (0.000945 + ... = 0.0009450000000000001).
const exactCost = new WeakMap<object, CostSum>();

function costSumOf(totals: object): CostSum {
  let sum = exactCost.get(totals);
  if (!sum) exactCost.set(totals, (sum = new CostSum()));
  return sum;
}

/** The exact cost of totals built by {@link addRow} (or of a {@link UsagePoint}), in 1e-10 USD units. */
export function costUnitsOf(totals: UsageTotals | UsagePoint): bigint {
  return exactCost.get(totals)?.units ?? BigInt(Math.round(totals.cost * 1e10));
}

/** Adds one row to running totals. */
export function addRow(totals: UsageTotals, row: LedgerRow): void {
  if (isBlocked(row)) totals.blocked += 1;
  else totals.calls += 1;
  totals.inputTokens += row.inputTokens;
  totals.outputTokens += row.outputTokens;
  totals.cachedTokens += row.cachedTokens;
  totals.tokens += row.inputTokens + row.outputTokens;
  totals.cost = costSumOf(totals).add(row.cost).usd;
}

/**
 * Groups ledger rows by a field (or `model`) and totals each group: calls, blocked calls,
 * tokens and cost (USD). The grand total is summed from the rows, so it always equals the sum
 * of the groups.
 */
export function breakdownUsage(rows: Iterable<LedgerRow>, options: SummarizeOptions): UsageSummary {
  const groups = new Map<string, UsageGroup>();
  const total = emptyTotals();
  for (const row of rows) {
    if (isCreditGrant(row)) continue;
    const key = groupKey(row, options.groupBy);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { key, ...emptyTotals() }));
    addRow(group, row);
    addRow(total, row);
  }
  const list = [...groups.values()];
  if (options.sort === 'key') list.sort((a, b) => a.key.localeCompare(b.key));
  else list.sort((a, b) => b.cost - a.cost || b.tokens - a.tokens || a.key.localeCompare(b.key));
  return { groupBy: options.groupBy, groups: list, total };
}

/** One bucket of {@link usageSeries}. */
export interface UsagePoint {
  /** Bucket start, ms since epoch. */
  time: number;
  tokens: number;
  /** USD. */
  cost: number;
  calls: number;
}

/**
 * Spend over time: rows summed into fixed buckets of `bucketMs` from `since` (inclusive) to
 * `until` (exclusive). Empty buckets are present with zeros, so a chart has no gaps.
 */
export function usageSeries(rows: Iterable<LedgerRow>, since: number, until: number, bucketMs: number): UsagePoint[] {
  const count = Math.max(1, Math.ceil((until - since) / bucketMs));
  const points: UsagePoint[] = Array.from({ length: count }, (_, i) => ({ time: since + i * bucketMs, tokens: 0, cost: 0, calls: 0 }));
  for (const row of rows) {
    if (row.time < since || row.time >= until || isCreditGrant(row)) continue;
    const point = points[Math.floor((row.time - since) / bucketMs)]!;
    point.tokens += row.inputTokens + row.outputTokens;
    point.cost = costSumOf(point).add(row.cost).usd;
    point.calls += 1;
  }
  return points;
}
