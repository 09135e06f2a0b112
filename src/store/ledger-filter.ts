import type { LedgerQuery, LedgerRow } from './types.js';

/** Whether `row` passes the `since` / `until` / `fields` parts of `query` (not `limit`). */
export function matchesLedgerQuery(row: LedgerRow, query: LedgerQuery): boolean {
  if (query.since !== undefined && row.time < query.since) return false;
  if (query.until !== undefined && row.time >= query.until) return false;
  if (query.fields) {
    for (const [name, value] of Object.entries(query.fields)) {
      if (row.fields[name] !== value) return false;
    }
  }
  return true;
}

/** Copies a row so a caller mutating what it passed to `record` cannot rewrite history. */
export function copyLedgerRow(row: LedgerRow): LedgerRow {
  return { ...row, fields: { ...row.fields } };
}
