/** `tokenlay billing push` and `tokenlay billing reconcile`: the ledger on its way to an invoice. */
import Table from 'cli-table3';
import type { BillingLedger } from '../billing/types.js';
import type { Flag } from './flags.js';
import { flagHelp, readFlags } from './flags.js';
import { parseTime } from './period.js';
import { batchSize, billingDestination, billingLedgerSpec, billingPlan, planFlags } from './billing-settings.js';

const LEDGER_FLAGS: Flag[] = [
  { name: 'store', value: 'URL', env: 'TOKENLAY_STORE', default: './.tokenlay/usage.db when it exists', help: 'the store your app or gateway writes: sqlite:<path>; the cursor of each destination is kept in it' },
  { name: 'ledger', value: 'URL', env: 'TOKENLAY_LEDGER', default: 'the store', help: 'the ledger when apart from the counters: postgres://user:password@host:5432/db or sqlite:<path>' },
  { name: 'rules', value: 'FILE', env: 'TOKENLAY_RULES', default: 'none (markup 1, the price table)', help: 'rules file whose plans.<plan>.markup multiplies the cost billed, and whose prices: decide which models are priced' },
];

const PUSH_FLAGS: Flag[] = [
  { name: 'to', value: 'stripe|cloudevents', help: 'where to send: stripe (Stripe Billing meter events, key in env STRIPE_API_KEY), or cloudevents followed by the URL events are POSTed to (OpenMeter: https://openmeter.cloud/api/v1/events)' },
  ...LEDGER_FLAGS,
  ...planFlags(),
  { name: 'json', help: 'print what was pushed and held back as JSON' },
];

const RECONCILE_FLAGS: Flag[] = [
  { name: 'from', value: 'DATE', help: 'first day (ISO 8601 date or date-time), inclusive' },
  { name: 'to', value: 'DATE', help: 'last day, exclusive' },
  { name: 'destination', value: 'NAME', default: 'the one destination pushed to', help: 'stripe, or cloudevents URL, when several were pushed to' },
  ...LEDGER_FLAGS,
  ...planFlags(),
  { name: 'json', help: 'print JSON' },
];

const HELP = `Usage: tokenlay billing <push|reconcile> [options]

  push       send each settled call to Stripe (meter events) or a CloudEvents
             endpoint (OpenMeter), exactly once across restarts and crashes
  reconcile  per customer: the ledger's total, what was pushed, every difference

Run 'tokenlay billing push --help' or 'tokenlay billing reconcile --help'.`;

const PUSH_HELP = flagHelp(
  `Usage: tokenlay billing push --to stripe [options]
       tokenlay billing push --to cloudevents URL [options]

Sends the ledger's calls not sent yet, a batch at a time; the destination's
cursor in the store moves only after it accepted a batch. Each event carries
the ledger row's id (Stripe identifier, CloudEvents id), so a batch sent again
after a crash is counted once. Calls of unpriced models, and calls with no
customer, are held back and listed.

Env: STRIPE_API_KEY (Stripe's secret key, never shown), TOKENLAY_CLOUDEVENTS_TOKEN
(sent as Authorization: Bearer).`,
  PUSH_FLAGS,
);

const RECONCILE_HELP = flagHelp(
  `Usage: tokenlay billing reconcile --from DATE --to DATE [options]

Per customer: the ledger's total (with the same --value, --rules markups and
customer mapping as the push), what the destination accepted, and every row
where they differ (not pushed yet, held back, value changed, missing).`,
  RECONCILE_FLAGS,
);

/** Opens the billing view of the ledger `spec` names, runs `fn` on it, and closes it. */
async function withLedger<T>(command: string, spec: string, fn: (ledger: BillingLedger) => Promise<T>): Promise<T> {
  const { openBillingLedger } = await import('../billing/open-ledger.js');
  const ledger = await openBillingLedger(spec).catch((err: Error) => {
    throw new Error(`${command}: ${err.message}`);
  });
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    // Both subcommands' flags, so that one --help answers what `tokenlay billing` takes.
    console.log(sub === undefined ? HELP : `${HELP}\n\n${PUSH_HELP}\n\n${RECONCILE_HELP}`);
    return sub === undefined ? 1 : 0;
  }
  try {
    if (sub === 'push') return await push(rest);
    if (sub === 'reconcile') return await reconcileCommand(rest);
    throw new Error(`tokenlay billing: unknown subcommand ${JSON.stringify(sub)}; use push or reconcile.\n\n${HELP}`);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
}

async function push(argv: string[]): Promise<number> {
  const command = 'tokenlay billing push';
  const { values, help, positionals } = readFlags('billing push', argv, PUSH_FLAGS);
  if (help) {
    console.log(PUSH_HELP);
    return 0;
  }
  const to = values.to as string | undefined;
  const [url, ...extra] = positionals;
  if (to !== 'cloudevents' && url !== undefined) throw new Error(`${command}: unexpected argument ${JSON.stringify(url)}. Run '${command} --help' for the options.`);
  if (extra.length > 0) throw new Error(`${command}: unexpected argument ${JSON.stringify(extra[0])} after the URL.`);
  const destination = billingDestination(to, url, values, command);
  const plan = billingPlan(values, { command, stripe: to === 'stripe', rulesFile: values.rules as string | undefined });
  const batch = batchSize(values, command);
  const spec = billingLedgerSpec(values, command);
  const { pushLedger } = await import('../billing/push.js');
  return withLedger(command, spec, async (ledger) => {
    let report;
    try {
      report = await pushLedger(ledger, destination, plan, { batchSize: batch });
    } catch (err) {
      throw new Error(`${command}: ${(err as Error).message} Nothing after the last accepted batch was marked as sent; run the push again.`);
    }
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      const released = report.released > 0 ? `, and ${report.released} held back before sent now (their model has a price, or their ${plan.customers.field} a customer, since)` : '';
      console.log(`${command}: ${report.pushed} calls sent to ${report.destination} in ${report.batches} batches${released}; ${report.held.length} held back; ${report.skipped} with nothing to bill (refused before any provider saw them).`);
      for (const h of report.held) console.log(`  held back: ${h.id} ${new Date(h.time).toISOString()} ${h.reason}: ${h.detail}`);
      if (report.stillHeld.length > 0) {
        console.log(`${report.stillHeld.length} calls held back before are still held (an unpriced model: give its price under prices: in --rules; no customer: map the ${plan.customers.field} in --customers; then push again):`);
        for (const h of report.stillHeld) console.log(`  still held back: ${h.id} ${new Date(h.time).toISOString()} ${h.reason}: ${h.detail}`);
      }
    }
    return 0;
  });
}

async function reconcileCommand(argv: string[]): Promise<number> {
  const command = 'tokenlay billing reconcile';
  const { values, help, positionals } = readFlags('billing reconcile', argv, RECONCILE_FLAGS);
  if (help) {
    console.log(RECONCILE_HELP);
    return 0;
  }
  if (positionals.length > 0 && !(values.destination === 'cloudevents' && positionals.length === 1)) throw new Error(`${command}: unexpected argument ${JSON.stringify(positionals[0])}. Run '${command} --help' for the options.`);
  if (values.from === undefined || values.to === undefined) throw new Error(`${command}: give the period with --from DATE --to DATE, e.g. --from 2026-11-01 --to 2026-12-01 (--to is exclusive).`);
  const from = parseTime('--from', values.from as string);
  const to = parseTime('--to', values.to as string);
  if (from >= to) throw new Error(`${command}: --from (${values.from}) must be before --to (${values.to}).`);
  const spec = billingLedgerSpec(values, command);
  const { reconcile } = await import('../billing/reconcile.js');
  return withLedger(command, spec, async (ledger) => {
    const known = await ledger.destinations();
    let destination = values.destination as string | undefined;
    if (destination === 'cloudevents' && positionals[0]) destination = `cloudevents ${positionals[0]}`;
    if (destination === undefined) {
      if (known.length !== 1) throw new Error(`${command}: ${known.length === 0 ? 'nothing was pushed from this ledger yet; run tokenlay billing push first' : `several destinations were pushed to (${known.join(', ')}); name one with --destination`}.`);
      destination = known[0]!;
    } else if (!known.includes(destination)) {
      throw new Error(`${command}: nothing was pushed to ${JSON.stringify(destination)} from this ledger; pushed to: ${known.join(', ') || 'none'}.`);
    }
    const plan = billingPlan(values, { command, stripe: destination === 'stripe', rulesFile: values.rules as string | undefined });
    const result = await reconcile(ledger, destination, plan, from, to);
    if (values.json) {
      console.log(JSON.stringify({ ...result, from: new Date(from).toISOString(), to: new Date(to).toISOString(), differences: result.differences.map((d) => ({ ...d, time: new Date(d.time).toISOString() })) }, null, 2));
      return 0;
    }
    const table = new Table({ head: ['customer', 'ledger', 'pushed', 'difference', 'calls', 'pushed calls'], colAligns: ['left', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [] } });
    for (const c of result.customers) table.push([c.customer, c.ledger, c.pushed, c.difference, c.rows, c.pushedRows]);
    table.push(['total', result.total.ledger, result.total.pushed, result.total.difference, result.total.rows, result.total.pushedRows]);
    console.log(`Billing to ${destination}, ${new Date(from).toISOString()} to ${new Date(to).toISOString()} (value: ${plan.value === 'cost' ? 'USD with markup' : 'tokens'}):`);
    console.log(table.toString());
    if (result.differences.length === 0) console.log('No differences: every billable call was pushed once, with the value the ledger gives.');
    else {
      const diff = new Table({ head: ['ledger row', 'time', 'customer', 'difference', 'ledger', 'pushed'], style: { head: [], border: [] } });
      for (const d of result.differences) diff.push([d.id, new Date(d.time).toISOString(), d.customer, d.kind, d.ledger ?? '-', d.pushed ?? '-']);
      console.log(`${result.differences.length} differences:`);
      console.log(diff.toString());
    }
    return 0;
  });
}
