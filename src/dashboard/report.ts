import type { OverrideStore } from '../store/overrides.js';
import { overridesPanel, type CreditRow, type OverrideRow } from './overrides-panel.js';
import type { RulesDocument } from '../policy/types.js';
import type { LedgerRow, TokenlayStore } from '../store/types.js';
import { groupKey, breakdownUsage, USAGE_GROUPINGS, usageSeries, type UsageGroup, type UsagePoint, type UsageTotals } from '../store/usage-breakdown.js';
import { limitStatus, type LimitStatus } from './limit-status.js';
import { margins, type MarginReport } from './margins.js';
import { pageRange, type PageWindow } from './windows.js';

/** Filters the page may apply: one value per grouping. */
export type ReportFilters = Partial<Record<(typeof USAGE_GROUPINGS)[number], string>>;

/** One recent call as the page lists it: never prompts, responses or keys. */
export interface RecentCall {
  time: number;
  fields: Record<string, string>;
  modelRequested: string | null;
  modelUsed: string | null;
  inputTokens: number;
  outputTokens: number;
  /** USD. */
  cost: number;
  ruleId: string | null;
  action: string | null;
  status: number;
}

/** Everything the page shows, as `GET <mount>/api/report` answers it. Times are ms since epoch. */
export interface DashboardReport {
  now: number;
  window: PageWindow;
  from: number;
  to: number;
  bucketMs: number;
  filters: ReportFilters;
  totals: UsageTotals;
  series: UsagePoint[];
  breakdowns: Record<(typeof USAGE_GROUPINGS)[number], { groups: UsageGroup[]; total: UsageTotals }>;
  limits: LimitStatus[];
  /** Limits set at run time (`tokenlay limits set`, `/v1/admin/limits`, `engine.limits.set`), of this viewer's account. */
  overrides: OverrideRow[];
  /** Balances of credits, least remaining first. */
  credits: CreditRow[];
  recent: RecentCall[];
  /** Null when the rules have no `plans:` section. */
  margins: MarginReport | null;
  /** True when the ledger holds no call at all for this viewer (the page shows how to send one). */
  empty: boolean;
}

/** Recent calls listed. */
const RECENT = 50;

function recent(row: LedgerRow): RecentCall {
  return {
    time: row.time,
    fields: row.fields,
    modelRequested: row.modelRequested,
    modelUsed: row.modelUsed,
    inputTokens: row.inputTokens,
    outputTokens: row.outputTokens,
    cost: row.cost,
    ruleId: row.ruleId,
    action: row.action,
    status: row.status,
  };
}

/**
 * Builds the page's report: `scope` fields restrict every read to one account (a signed-in key);
 * `filters` narrow the window's numbers and the limits listed (a `model` filter matches the model
 * used, else asked).
 */
export async function buildReport(opts: {
  store: TokenlayStore;
  rules: RulesDocument | undefined;
  scope: Record<string, string>;
  window: PageWindow;
  filters: ReportFilters;
  now: number;
  /** Where overrides and credits are kept; none: the panel lists none. */
  overrides?: OverrideStore | undefined;
}): Promise<DashboardReport> {
  const { store, scope, filters, now } = opts;
  const range = pageRange(opts.window, now);
  const { model, ...fieldFilters } = filters;
  // The account's own fields win: a filter cannot widen what a key may see.
  const fields = { ...fieldFilters, ...scope } as Record<string, string>;
  const ofModel = model === undefined ? undefined : (r: LedgerRow) => groupKey(r, 'model') === model;
  let rows = await store.ledger({ since: range.from, until: range.to, fields });
  if (ofModel) rows = rows.filter(ofModel);
  const breakdowns = {} as DashboardReport['breakdowns'];
  let totals: UsageTotals | undefined;
  for (const by of USAGE_GROUPINGS) {
    const { groups, total } = breakdownUsage(rows, { groupBy: by });
    breakdowns[by] = { groups, total };
    totals ??= total;
  }
  const [limits, marginReport, any, panel] = await Promise.all([
    limitStatus(store, opts.rules, fields, now, ofModel),
    opts.rules?.plans ? margins(store, opts.rules.plans, scope, now) : Promise.resolve(null),
    rows.length > 0 ? Promise.resolve(rows) : store.ledger({ fields: scope, limit: 1 }),
    overridesPanel(opts.overrides, store, scope.account, now),
  ]);
  return {
    now,
    window: range.window,
    from: range.from,
    to: range.to,
    bucketMs: range.bucketMs,
    filters,
    totals: totals!,
    series: usageSeries(rows, range.from, range.to, range.bucketMs),
    breakdowns,
    limits,
    overrides: panel.overrides,
    credits: panel.credits,
    recent: rows.slice(-RECENT).reverse().map(recent),
    margins: marginReport,
    empty: any.length === 0,
  };
}
