/**
 * The per-user table at the end of the demo, read from the engine's usage ledger: one row per LLM
 * call, written by the engine as it settled each call (refused ones too). Nothing here is counted
 * by the demo itself.
 */
import Table from 'cli-table3';
import { wrap } from './terminal.js';

/** @typedef {import('tokenlay').TokenlayStore} TokenlayStore */
/** @typedef {Awaited<ReturnType<TokenlayStore['ledger']>>[number]} LedgerRow */

/**
 * A call a rule or limit refused: never sent to a provider, and not counted among the calls, as in
 * the dashboard and `tokenlay usage` (their "refused" column).
 * @param {LedgerRow} row
 */
const isRefused = (row) => row.status >= 400 && ['block', 'queue', 'refuse'].includes(row.action);

/**
 * What a user's calls came to, and which limit (if any) changed them.
 * @param {LedgerRow[]} rows one user's calls, oldest first
 */
function summarise(rows) {
  const refused = rows.filter(isRefused);
  const sent = rows.filter((r) => !isRefused(r));
  const models = new Map();
  for (const r of sent) models.set(r.modelUsed, (models.get(r.modelUsed) ?? 0) + 1);
  const downgraded = rows.findIndex((r) => r.action === 'downgrade');
  const queued = sent.filter((r) => r.action === 'queue');
  let status = 'ok';
  if (refused.length > 0) {
    const first = refused[0];
    status = `${first.action === 'block' ? 'blocked' : 'refused'} by ${first.ruleId ?? 'the engine'} after ${rows.indexOf(first)} (${refused.length} refused)`;
  } else if (downgraded !== -1) {
    status = `downgraded to ${rows[downgraded].modelUsed} by ${rows[downgraded].ruleId} after ${downgraded}`;
  } else if (queued.length > 0) {
    status = `ok, ${queued.length} of ${sent.length} queued by ${queued[0].ruleId}`;
  }
  return {
    plan: rows.at(-1).fields.plan ?? '',
    calls: sent.length,
    refused: refused.length,
    inputTokens: rows.reduce((sum, r) => sum + r.inputTokens, 0),
    outputTokens: rows.reduce((sum, r) => sum + r.outputTokens, 0),
    cost: rows.reduce((sum, r) => sum + r.cost, 0),
    models: [...models].map(([model, n]) => `${model} ×${n}`).join(', '),
    status,
  };
}

/**
 * The table, one row per user in the order they first called, and a total; under it, per user,
 * the models that answered and what the limits did. Numbers in the table, words under it: the
 * table is 71 columns wide, so it fits an 80-column terminal.
 * @param {TokenlayStore} store
 * @param {{ tty: boolean, width?: number }} options colours only on a terminal; `width` wraps the lines under the table
 */
export async function usageTable(store, { tty, width = Infinity }) {
  const byUser = new Map();
  for (const row of await store.ledger()) {
    const user = row.fields.user ?? '(no user)';
    byUser.set(user, [...(byUser.get(user) ?? []), row]);
  }
  const table = new Table({
    head: ['user', 'plan', 'calls', 'refused', 'tokens in / out', 'cost (USD)'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right'],
    style: tty ? { head: ['cyan'] } : { head: [], border: [] },
    // No rule between the rows: the whole table fits a 24-line terminal with the log above it.
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const total = { calls: 0, refused: 0, inputTokens: 0, outputTokens: 0, cost: 0 };
  const notes = [];
  const nameWidth = Math.max(...[...byUser.keys()].map((u) => u.length));
  for (const [user, rows] of byUser) {
    const s = summarise(rows);
    table.push([user, s.plan, s.calls, s.refused, `${s.inputTokens} / ${s.outputTokens}`, s.cost.toFixed(6)]);
    for (const key of Object.keys(total)) total[key] += s[key];
    notes.push(...wrap(`${user.padEnd(nameWidth)}  ${s.models}; ${s.status}`, width, nameWidth + 2));
  }
  table.push(['total', '', total.calls, total.refused, `${total.inputTokens} / ${total.outputTokens}`, total.cost.toFixed(6)]);
  return `${table.toString()}\n${notes.join('\n')}`;
}
