/** `tokenlay simulate --rules new.yaml --from 30d`: the ledger's calls replayed under other rules. */
import { existsSync } from 'node:fs';
import Table from 'cli-table3';
import { commandFlags } from './flags.js';
import { LEDGER_HELP, openLedger } from './ledger-source.js';
import { parseTime } from './period.js';
import type { SimulatedLine } from '../billing/simulate.js';

const HELP = `Usage: tokenlay simulate --rules FILE --from 30d [options]

Replays the ledger's calls under other rules, before you deploy them: per plan
and per user, the calls that would have been refused, downgraded or queued,
what they would cost, and the margin against the plans: revenue (each plan's
price prorated to the period).

Options:
  --rules FILE
        the rules to try (.yaml, .yml, .json)
  --from WHEN
        how far back: 30d, 12h, 2w, or an ISO 8601 date or date-time
  --to DATE
        end of the period, exclusive (default: now)
${LEDGER_HELP}
  --json
        print JSON
`;

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `30d`, `12h`, `2w` back from `now`, or an ISO date. */
export function parseSince(value: string, now: number): number {
  const rel = /^(\d+)([hdw])$/.exec(value.trim());
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  try {
    return parseTime('--from', value);
  } catch {
    throw new Error(`--from "${value}" is neither a duration nor a date; use 30d, 12h, 2w, or an ISO 8601 date such as 2026-11-01.`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const values = commandFlags('simulate', argv, { rules: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, store: { type: 'string' }, ledger: { type: 'string' }, json: { type: 'boolean' } }, HELP);
  if (typeof values === 'number') return values;
  try {
    if (values.rules === undefined) throw new Error('name the rules to try with --rules FILE, e.g. --rules new.yaml.');
    if (!existsSync(values.rules)) throw new Error(`--rules names "${values.rules}", and there is no file there; give the rules file to try (.yaml, .yml or .json).`);
    if (values.from === undefined) throw new Error('say how far back to replay with --from, e.g. --from 30d (or an ISO 8601 date).');
    const now = Date.now();
    const from = parseSince(values.from, now);
    const to = values.to === undefined ? now : parseTime('--to', values.to);
    if (from >= to) throw new Error(`--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()}).`);
    const { loadRules } = await import('../policy/load.js');
    const rules = loadRules(values.rules);
    const { simulate } = await import('../billing/simulate.js');
    const store = openLedger('tokenlay simulate', values);
    let rows;
    try {
      // Without --to, calls up to this instant (until is exclusive).
      rows = await store.ledger({ since: from, until: values.to === undefined ? now + 1 : to });
    } finally {
      await store.close();
    }
    const result = simulate(rows, rules, from, to);
    if (values.json) {
      console.log(JSON.stringify({ ...result, from: new Date(from).toISOString(), to: new Date(to).toISOString(), rules: values.rules }, null, 2));
      return 0;
    }
    const head = ['calls', 'refused', 'downgraded', 'queued', 'cost (ledger)', 'cost (new rules)', 'revenue', 'margin (ledger)', 'margin (new rules)'];
    const cells = (l: SimulatedLine) => [l.calls, l.refused, l.downgraded, l.queued, l.costBefore, l.cost, l.revenue ?? '-', l.marginBefore ?? '-', l.margin ?? '-'];
    const aligns = (n: number) => [...Array(n).fill('left'), ...head.map(() => 'right')] as Array<'left' | 'right'>;
    const plans = new Table({ head: ['plan', 'users', ...head], colAligns: aligns(2), style: { head: [], border: [] } });
    for (const p of result.plans) plans.push([p.plan, p.users, ...cells(p)]);
    plans.push(['total', result.total.users, ...cells(result.total)]);
    const users = new Table({ head: ['user', 'plan', ...head], colAligns: aligns(2), style: { head: [], border: [] } });
    for (const u of result.users) users.push([u.user, u.plan, ...cells(u)]);
    console.log(`The ledger's calls from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} under ${values.rules} (USD):`);
    console.log('Per plan:');
    console.log(plans.toString());
    console.log('Per user:');
    console.log(users.toString());
    if (result.total.modelRequired > 0) console.log(`${result.total.modelRequired} of the refused calls named no model and no rule of ${values.rules} routes them (400 model_required); give those rules a then.model, or a catch-all rule such as { id: "default-model", if: {}, then: { model: "gpt-4o-mini" } }.`);
    if (result.total.unknownUsage > 0) console.log(`${result.total.unknownUsage} calls the ledger has as refused would be let through; their usage is unknown and counted as $0.`);
    return 0;
  } catch (err) {
    console.error(`tokenlay simulate: ${(err as Error).message.replace(/^tokenlay simulate: /, '')}`);
    return 1;
  }
}
