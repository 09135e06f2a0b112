/** `tokenlay gateway --billing stripe`: the gateway pushes its own ledger as it grows. */
import type { GatewayOptions } from '../gateway/types.js';
import { DEFAULT_STORE } from '../gateway/defaults.js';
import type { Flag } from './flags.js';
import { batchSize, billingDestination, billingPlan, planFlags } from './billing-settings.js';

/** The gateway's billing flags; the plan's are those of `tokenlay billing push`, prefixed `billing-`, with the same env vars. */
export const BILLING_FLAGS: Flag[] = [
  { name: 'billing', value: 'DESTINATION', env: 'TOKENLAY_BILLING', default: 'off', help: 'stripe: send each settled call to Stripe Billing as a meter event while serving, exactly once (key in env STRIPE_API_KEY); cloudevents URL (or with --billing-url): to that URL as CloudEvents (OpenMeter)' },
  { name: 'billing-url', value: 'URL', env: 'TOKENLAY_BILLING_URL', help: 'with --billing cloudevents: the URL events are POSTed to' },
  { name: 'billing-interval', value: 'MS', env: 'TOKENLAY_BILLING_INTERVAL', default: '10000', help: 'how often new ledger rows are pushed' },
  { name: 'billing-rules', value: 'FILE', env: 'TOKENLAY_BILLING_RULES', default: 'the --rules file', help: 'rules file whose plans.<plan>.markup the billed cost is multiplied by' },
  ...planFlags('billing-'),
];

/** A running pusher. */
export interface GatewayBilling {
  stop(): Promise<void>;
}

/**
 * Starts the pusher `--billing` asks for (none without it), on the gateway's own ledger: `--ledger`,
 * else `--store`, else the default SQLite file. Its cursor lives in that store, so restarts, other
 * gateways on the same ledger and `tokenlay billing push` never bill a row twice.
 * @throws an Error naming the flag and the fix when a setting is wrong.
 */
export async function startGatewayBilling(values: Record<string, string | string[] | undefined>, options: GatewayOptions): Promise<GatewayBilling | undefined> {
  const command = 'tokenlay gateway';
  const to = values.billing as string | undefined;
  if (to === undefined || to === '' || to === 'off') return undefined;
  if (to !== 'stripe' && to !== 'cloudevents') throw new Error(`${command}: --billing (or TOKENLAY_BILLING) must be stripe, cloudevents or off; got ${JSON.stringify(to)}.`);
  const interval = values['billing-interval'] as string | undefined;
  if (interval !== undefined && (!/^\d+$/.test(interval) || Number(interval) < 100)) throw new Error(`${command}: --billing-interval (or TOKENLAY_BILLING_INTERVAL) must be a whole number of ms, at least 100; got ${JSON.stringify(interval)}.`);
  const destination = billingDestination(to, values['billing-url'] as string | undefined, values, command, 'billing-');
  const rulesFile = (values['billing-rules'] as string | undefined) ?? (typeof options.rules === 'string' ? options.rules : undefined);
  const plan = billingPlan(values, { command, prefix: 'billing-', stripe: to === 'stripe', ...(rulesFile ? { rulesFile } : {}) });
  const named = [options.ledger, options.store].find((s) => s !== undefined);
  const spec = typeof named === 'string' ? named : DEFAULT_STORE;
  const { openBillingLedger } = await import('../billing/open-ledger.js');
  const { startBillingPusher } = await import('../billing/push.js');
  const ledger = await openBillingLedger(spec).catch((err: Error) => {
    throw new Error(`${command}: --billing ${to}: ${err.message}`);
  });
  const pusher = startBillingPusher(ledger, destination, plan, {
    intervalMs: interval === undefined ? 10_000 : Number(interval),
    batchSize: batchSize(values, command, 'billing-'),
    onReport: (r) => process.stderr.write(`${JSON.stringify({ msg: 'billing push', destination: r.destination, pushed: r.pushed, released: r.released, held: r.held.map((h) => ({ id: h.id, reason: h.reason, detail: h.detail })), cursor: r.cursor })}\n`),
    onError: (err) => process.stderr.write(`${JSON.stringify({ msg: 'billing push failed', error: err.message })}\n`),
  });
  return {
    async stop() {
      await pusher.stop();
      await ledger.close();
    },
  };
}
