import { createSqliteStore } from '../../src/store/sqlite.js';
import type { LedgerRow } from '../../src/store/types.js';

const NOV = Date.UTC(2026, 10, 1);
const H = 3_600_000;

function row(time: number, fields: Record<string, string>, model: string, input: number, output: number, cost: number, action = 'allow', status = 200): LedgerRow {
  return {
    time,
    fields,
    modelRequested: model,
    modelUsed: status === 200 ? `${model}-2024-08-06` : null,
    endpoint: '/v1/chat/completions',
    inputTokens: input,
    outputTokens: output,
    cachedTokens: 0,
    cost,
    ruleId: action === 'allow' ? null : 'free-cap',
    action,
    status,
    latencyMs: 12,
    estimated: false,
  };
}

/** Six calls in November 2026 and one in October: known totals for the CLI tests. */
export const FIXTURE_ROWS: LedgerRow[] = [
  row(NOV - 5 * H, { user: 'alice', org: 'acme', plan: 'pro' }, 'gpt-4o', 1000, 500, 0.0075),
  row(NOV + 1 * H, { user: 'alice', org: 'acme', plan: 'pro', feature: 'chat' }, 'gpt-4o', 1200, 300, 0.006),
  row(NOV + 2 * H, { user: 'alice', org: 'acme', plan: 'pro', feature: 'summary' }, 'gpt-4o-mini', 4000, 1000, 0.0012),
  row(NOV + 3 * H, { user: 'bob', org: 'acme', plan: 'free', feature: 'chat' }, 'gpt-4o-mini', 800, 200, 0.00024),
  row(NOV + 4 * H, { user: 'bob', org: 'acme', plan: 'free', feature: 'chat' }, 'gpt-4o-mini', 0, 0, 0, 'block', 429),
  row(NOV + 5 * H, { user: 'carol, "the boss"', plan: 'pro', feature: 'chat' }, 'gpt-4o', 100, 50, 0.00075),
  row(NOV + 26 * H, { feature: 'chat' }, 'gpt-4o-mini', 10, 10, 0.000009),
];

/** Writes the fixture rows to a new SQLite ledger at `path`. */
export async function writeFixtureLedger(path: string, rows: LedgerRow[] = FIXTURE_ROWS): Promise<void> {
  const store = createSqliteStore({ path });
  for (const r of rows) store.record(r);
  await store.close();
}
