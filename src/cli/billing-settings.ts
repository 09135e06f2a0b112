/**
 * The billing settings `tokenlay billing push`, `tokenlay billing reconcile` and `tokenlay gateway
 * --billing` share: flags, their env vars, and what they build (the billing plan, a destination).
 */
import { existsSync } from 'node:fs';
import { CUSTOMER_FIELDS, customerMapping, type CustomerField } from '../billing/customers.js';
import { fromRules, type BillingPlan } from '../billing/classify.js';
import { createCloudEventsDestination } from '../billing/cloudevents.js';
import { createStripeDestination, STRIPE_CUSTOMER } from '../billing/stripe.js';
import type { Destination } from '../billing/types.js';
import { VALUE_KINDS, type ValueKind } from '../billing/value.js';
import { DEFAULT_STORE } from '../gateway/defaults.js';
import { loadRules } from '../policy/load.js';
import type { Flag } from './flags.js';

/** The default meter event name (Stripe `event_name`, CloudEvents `type`). */
export const DEFAULT_EVENT_NAME = 'tokenlay_llm_usage';

/** Flags of the billing plan: who the customer is and what is billed. `prefix` is `billing-` in the gateway. */
export function planFlags(prefix = ''): Flag[] {
  return [
    { name: `${prefix}customer-field`, value: 'user|org', env: 'TOKENLAY_BILLING_CUSTOMER_FIELD', default: 'user', help: 'the field whose value is (or, with --customers, maps to) the billing customer' },
    { name: `${prefix}customers`, value: 'FILE', env: 'TOKENLAY_BILLING_CUSTOMERS', default: 'none: the field value is the customer id (cus_… for Stripe)', help: 'a JSON file of field value → customer id, e.g. {"alice": "cus_NffrFeUfNV2Hib"}; rows whose value is not in it are held back and listed' },
    { name: `${prefix}value`, value: 'cost|tokens', env: 'TOKENLAY_BILLING_VALUE', default: 'cost', help: "what an event's value is: the call's cost in USD times its plan's markup (plans.<plan>.markup in the rules file), or its input plus output tokens" },
    { name: `${prefix}event-name`, value: 'NAME', env: 'TOKENLAY_BILLING_EVENT_NAME', default: DEFAULT_EVENT_NAME, help: "the Stripe meter's event_name, or the CloudEvents type" },
    { name: `${prefix}stripe-api-base`, value: 'URL', env: 'TOKENLAY_STRIPE_API_BASE', default: 'https://api.stripe.com', help: 'where the Stripe API is (a proxy, or a stand-in in tests); the key is read from env STRIPE_API_KEY only' },
    { name: `${prefix}source`, value: 'SOURCE', env: 'TOKENLAY_CLOUDEVENTS_SOURCE', default: 'tokenlay', help: 'the CloudEvents source; the token, if the endpoint needs one, is read from env TOKENLAY_CLOUDEVENTS_TOKEN only' },
    { name: `${prefix}cloudevents-mode`, value: 'batch|single', env: 'TOKENLAY_CLOUDEVENTS_MODE', default: 'batch', help: 'batch: one application/cloudevents-batch+json request per batch (as OpenMeter ingests); single: one application/cloudevents+json request per call' },
    { name: `${prefix}batch`, value: 'N', env: 'TOKENLAY_BILLING_BATCH', default: '100', help: 'ledger rows sent and committed together' },
  ];
}

type Values = Record<string, string | string[] | undefined>;
const one = (values: Values, name: string) => values[name] as string | undefined;

/** The rules file billing reads markups and prices from: the given one, else none. */
export function billingRules(file: string | undefined, command: string) {
  if (file === undefined) return undefined;
  if (!existsSync(file)) throw new Error(`${command}: --rules (or TOKENLAY_RULES) names "${file}", and there is no file there. Give the rules file whose plans.<plan>.markup and prices billing should use.`);
  return loadRules(file);
}

/**
 * The billing plan from flag values.
 * @throws an Error naming the flag, the value and what it takes.
 */
export function billingPlan(values: Values, opts: { command: string; prefix?: string; rulesFile?: string; stripe: boolean }): BillingPlan {
  const p = opts.prefix ?? '';
  const field = (one(values, `${p}customer-field`) ?? 'user') as CustomerField;
  if (!CUSTOMER_FIELDS.includes(field)) throw new Error(`${opts.command}: --${p}customer-field (or TOKENLAY_BILLING_CUSTOMER_FIELD) must be ${CUSTOMER_FIELDS.join(' or ')}; got ${JSON.stringify(field)}.`);
  const value = (one(values, `${p}value`) ?? 'cost') as ValueKind;
  if (!VALUE_KINDS.includes(value)) throw new Error(`${opts.command}: --${p}value (or TOKENLAY_BILLING_VALUE) must be ${VALUE_KINDS.join(' or ')}; got ${JSON.stringify(value)}.`);
  let customers;
  try {
    customers = customerMapping(field, one(values, `${p}customers`), opts.stripe ? STRIPE_CUSTOMER : undefined, `--${p}customers`);
  } catch (err) {
    throw new Error(`${opts.command}: ${(err as Error).message}`);
  }
  return { value, customers, ...fromRules(billingRules(opts.rulesFile, opts.command)) };
}

/** Rows per batch from `--batch`. */
export function batchSize(values: Values, command: string, prefix = ''): number {
  const text = one(values, `${prefix}batch`);
  if (text === undefined) return 100;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 10_000) throw new Error(`${command}: --${prefix}batch (or TOKENLAY_BILLING_BATCH) must be a whole number from 1 to 10000; got ${JSON.stringify(text)}.`);
  return Number(text);
}

/**
 * The destination `to` names: `stripe` (key from env STRIPE_API_KEY) or `cloudevents` with its URL.
 * @throws an Error naming what is missing or wrong, and the fix.
 */
export function billingDestination(to: string | undefined, url: string | undefined, values: Values, command: string, prefix = '', env: NodeJS.ProcessEnv = process.env): Destination {
  const eventName = one(values, `${prefix}event-name`) ?? DEFAULT_EVENT_NAME;
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(eventName)) throw new Error(`${command}: --${prefix}event-name (or TOKENLAY_BILLING_EVENT_NAME) must be 1 to 100 letters, digits, _ . : or -; got ${JSON.stringify(eventName)}.`);
  if (to === 'stripe') {
    const apiKey = env.STRIPE_API_KEY;
    if (!apiKey) throw new Error(`${command}: billing to Stripe needs a secret key in env STRIPE_API_KEY (sk_… or a restricted rk_… key that may write meter events); it is not set.`);
    // Node refuses such a header before any request is made, which the stripe package reports (and
    // retries) as a connection error: say what it is instead.
    if (/\s/.test(apiKey)) throw new Error(`${command}: STRIPE_API_KEY has whitespace in it (${/[\r\n]\s*$/.test(apiKey) ? 'a trailing newline or carriage return, as a .env file saved with CRLF line ends gives' : 'a space or a line break'}); set it to the key alone (sk_… or rk_…).`);
    const apiBase = one(values, `${prefix}stripe-api-base`);
    if (apiBase !== undefined && !/^https?:\/\/[^/]+\/?$/.test(apiBase)) throw new Error(`${command}: --${prefix}stripe-api-base (or TOKENLAY_STRIPE_API_BASE) must be a URL with no path, e.g. https://api.stripe.com; got ${JSON.stringify(apiBase)}.`);
    return createStripeDestination({ apiKey, eventName, ...(apiBase ? { apiBase } : {}) });
  }
  if (to === 'cloudevents') {
    if (url === undefined || !/^https?:\/\/\S+$/.test(url)) {
      // The gateway takes the URL from its own flag; `billing push` after `--to cloudevents`.
      const how = prefix ? `--${prefix}url (or TOKENLAY_BILLING_URL), e.g. --billing cloudevents --${prefix}url https://openmeter.cloud/api/v1/events` : 'e.g. --to cloudevents https://openmeter.cloud/api/v1/events';
      throw new Error(`${command}: ${prefix ? '--billing' : '--to'} cloudevents needs the URL events are POSTed to: ${how}; got ${url === undefined ? 'none' : JSON.stringify(url)}.`);
    }
    const mode = one(values, `${prefix}cloudevents-mode`) ?? 'batch';
    if (mode !== 'batch' && mode !== 'single') throw new Error(`${command}: --${prefix}cloudevents-mode (or TOKENLAY_CLOUDEVENTS_MODE) must be batch or single; got ${JSON.stringify(mode)}.`);
    return createCloudEventsDestination({ url, type: eventName, source: one(values, `${prefix}source`) ?? 'tokenlay', mode, ...(env.TOKENLAY_CLOUDEVENTS_TOKEN ? { token: env.TOKENLAY_CLOUDEVENTS_TOKEN } : {}) });
  }
  throw new Error(`${command}: --to must be stripe or cloudevents URL (e.g. --to stripe, --to cloudevents https://openmeter.cloud/api/v1/events); got ${to === undefined ? 'none' : JSON.stringify(to)}.`);
}

/** The ledger billing reads: --ledger, else --store, else env, else the gateway's default file when it exists. */
export function billingLedgerSpec(values: Values, command: string, env: NodeJS.ProcessEnv = process.env): string {
  const spec = one(values, 'ledger') ?? one(values, 'store') ?? (env.TOKENLAY_LEDGER || undefined) ?? (env.TOKENLAY_STORE || undefined) ?? (existsSync(DEFAULT_STORE.slice('sqlite:'.length)) ? DEFAULT_STORE : undefined);
  if (spec === undefined) throw new Error(`${command}: no ledger to read; pass --store sqlite:./.tokenlay/usage.db (the store your app or gateway writes), --ledger postgres://…, or set TOKENLAY_STORE. ${process.cwd()} has no ${DEFAULT_STORE.slice('sqlite:'.length)}.`);
  return spec;
}
