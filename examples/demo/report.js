/**
 * The per-user table at the end of the demo, read from the engine's usage ledger: one row per LLM
 * call, written by the engine as it settled each call (refused ones too). Nothing here is counted
 * by the demo itself.
 */
import Table from 'cli-table3';

/** @typedef {import('tokenlay').TokenlayStore} TokenlayStore */
/** @typedef {Awaited<ReturnType<TokenlayStore['ledger']>>[number]} LedgerRow */

/**
 * What a user's calls came to, and which limit (if any) changed them.
 * @param {LedgerRow[]} rows one user's calls, oldest first
 */
function summarise(rows) {
  const answered = rows.filter((r) => r.status < 400);
  const refused = rows.filter((r) => r.status >= 400);
  const models = new Map();
  for (const r of answered) models.set(r.modelUsed, (models.get(r.modelUsed) ?? 0) + 1);
  const downgraded = rows.findIndex((r) => r.action === 'downgrade');
  const queued = answered.filter((r) => r.action === 'queue');
  let status = 'ok';
  if (refused.length > 0) {
    const first = refused[0];
    status = `${first.action === 'block' ? 'blocked' : 'refused'} by ${first.ruleId ?? 'the engine'} after ${rows.indexOf(first)} (${refused.length} refused)`;
  } else if (downgraded !== -1) {
    status = `downgraded to ${rows[downgraded].modelUsed} by ${rows[downgraded].ruleId} after ${downgraded}`;
  } else if (queued.length > 0) {
    status = `ok, ${queued.length} of ${answered.length} queued by ${queued[0].ruleId}`;
  }
  return {
    plan: rows.at(-1).fields.plan ?? '',
    calls: answered.length,
    inputTokens: rows.reduce((sum, r) => sum + r.inputTokens, 0),
    outputTokens: rows.reduce((sum, r) => sum + r.outputTokens, 0),
    cost: rows.reduce((sum, r) => sum + r.cost, 0),
    models: [...models].map(([model, n]) => `${model} ×${n}`).join(', '),
    status,
  };
}

/**
 * The table, one row per user in the order they first called, and a total.
 * @param {TokenlayStore} store
 * @param {{ tty: boolean }} options colours only on a terminal
 */
export async function usageTable(store, { tty }) {
  const byUser = new Map();
  for (const row of await store.ledger()) {
    const user = row.fields.user ?? '(no user)';
    byUser.set(user, [...(byUser.get(user) ?? []), row]);
  }
  const table = new Table({
    head: ['user', 'plan', 'calls', 'tokens in / out', 'cost (USD)', 'models', 'limit status'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'left', 'left'],
    style: tty ? { head: ['cyan'] } : { head: [], border: [] },
  });
  const total = { calls: 0, inputTokens: 0, outputTokens: 0, cost: 0 };
  for (const [user, rows] of byUser) {
    const s = summarise(rows);
    table.push([user, s.plan, s.calls, `${s.inputTokens} / ${s.outputTokens}`, s.cost.toFixed(6), s.models, s.status]);
    for (const key of Object.keys(total)) total[key] += s[key];
  }
  table.push(['total', '', total.calls, `${total.inputTokens} / ${total.outputTokens}`, total.cost.toFixed(6), '', '']);
  return table.toString();
}
