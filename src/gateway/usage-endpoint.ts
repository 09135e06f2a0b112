import type { ServerResponse } from 'node:http';
import { csvText } from '../cli/csv.js';
import { windowBounds } from '../policy/windows.js';
import { summarizeUsage, USAGE_GROUPS, USAGE_WINDOWS, type UsageGroup, type UsageSummaryQuery, type UsageSummaryRow } from '../store/usage-summary.js';
import type { TokenlayStore, WindowName } from '../store/types.js';
import { sendError, sendJson } from './errors.js';

function badParam(res: ServerResponse, param: string, message: string): void {
  sendError(res, 400, { message: `tokenlay: ${message}`, type: 'invalid_request_error', code: 'invalid_usage_query', param });
}

/** An ISO 8601 date or time, or ms since epoch. */
function parseTime(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** The summary as CSV with a header line: `user,requests,input_tokens,output_tokens,cost` (the product's one CSV writer). */
export function usageCsv(rows: UsageSummaryRow[], groupBy: UsageGroup): string {
  const columns = [groupBy, 'requests', 'input_tokens', 'output_tokens', 'cost'] as const;
  return csvText(columns, rows.map((row) => columns.map((c) => row[c] as string | number)));
}

/**
 * `GET /v1/usage?group_by=user|org|plan|project|feature|model&window=day&from=…&to=…&format=json|csv`:
 * the calling key's account's usage, grouped. JSON `{"data": [{"user": "ann", "requests": 3,
 * "input_tokens": 33, "output_tokens": 21, "cost": 0.0003}]}` or CSV with a header line.
 */
export async function answerUsage(res: ServerResponse, search: string, store: TokenlayStore, account: string, now: number): Promise<void> {
  const params = new URLSearchParams(search);
  const groupBy = params.get('group_by') ?? 'user';
  if (!(USAGE_GROUPS as readonly string[]).includes(groupBy)) {
    return badParam(res, 'group_by', `group_by=${JSON.stringify(groupBy)} is not one of ${USAGE_GROUPS.join(', ')}; e.g. /v1/usage?group_by=user.`);
  }
  const query: UsageSummaryQuery = { groupBy: groupBy as UsageGroup, account };
  const window = params.get('window');
  if (window !== null) {
    if (!(USAGE_WINDOWS as readonly string[]).includes(window)) {
      return badParam(res, 'window', `window=${JSON.stringify(window)} is not one of ${USAGE_WINDOWS.join(', ')}; e.g. window=day (since 00:00 UTC).`);
    }
    query.windowStart = windowBounds(window as WindowName, now).start;
  }
  for (const name of ['from', 'to'] as const) {
    const text = params.get(name);
    if (text === null) continue;
    const t = parseTime(text);
    if (t === undefined) return badParam(res, name, `${name}=${JSON.stringify(text)} is not a time; give an ISO 8601 date or time (2026-11-01, 2026-11-01T12:00:00Z) or ms since epoch.`);
    query[name] = t;
  }
  const format = params.get('format') ?? 'json';
  if (format !== 'json' && format !== 'csv') return badParam(res, 'format', `format=${JSON.stringify(format)} is not json or csv.`);
  const rows = await summarizeUsage(store, query);
  if (format === 'json') return sendJson(res, 200, { data: rows });
  const csv = usageCsv(rows, query.groupBy);
  res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8', 'content-length': Buffer.byteLength(csv) });
  res.end(csv);
}
