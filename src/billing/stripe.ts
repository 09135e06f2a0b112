import { createHash } from 'node:crypto';
import type StripeType from 'stripe';
import { optionalPeer } from '../node-builtins.js';
import { BillingError, type Destination, type UsageEvent } from './types.js';

const loadStripe = optionalPeer<typeof StripeType | { default: typeof StripeType }>('stripe', 'billing to Stripe', import.meta.url);

/** Options of {@link createStripeDestination}. */
export interface StripeDestinationOptions {
  /** A Stripe secret or restricted key (env `STRIPE_API_KEY`); never logged or shown. */
  apiKey: string;
  /** The meter's `event_name`. */
  eventName: string;
  /** Where the Stripe API is: `https://api.stripe.com` (default) or a stand-in's URL. */
  apiBase?: string;
  /** Retries the stripe package makes on a network error, a 409, a 5xx or a 429 it is told to retry. Default 3. */
  maxNetworkRetries?: number;
  /** Meter events sent at once. Default 8. */
  concurrency?: number;
}

/** A Stripe customer id, as the payload's `stripe_customer_id` takes it. */
export const STRIPE_CUSTOMER = /^cus_[A-Za-z0-9]+$/;

/** Stripe takes meter events up to 35 days old; an older one is refused. */
export const STRIPE_MAX_AGE_MS = 35 * 86_400_000;

/** Stripe's answer when an identifier was already taken: the event is there, once. */
const DUPLICATE = /already exists with identifier/i;

/**
 * Whether Stripe refused an event because it already has one with this identifier: its message
 * ("An event already exists with identifier …"), or an error code or parameter that says so.
 */
function isDuplicate(e: { type?: string; code?: string; param?: string; message?: string }, identifier: string): boolean {
  if (e.type !== 'StripeInvalidRequestError') return false;
  const message = e.message ?? '';
  if (DUPLICATE.test(message) || e.code === 'duplicate_meter_event' || e.code === 'resource_already_exists') return true;
  return (e.param === 'identifier' || message.includes(identifier)) && /already|duplicate|exists/i.test(message);
}

/**
 * The `Idempotency-Key` of a meter event: the same for the same event, so that sending it again
 * after a crash (Stripe keeps keys 24 hours) gets Stripe's first answer back instead of a second
 * event, whatever Stripe's identifier check does. Stripe refuses a key reused with other
 * parameters, so the key hashes them (a value changed since is a new key; the identifier still
 * holds the event once).
 */
function idempotencyKey(params: object, identifier: string): string {
  return `tokenlay-${identifier.slice(0, 100)}-${createHash('sha256').update(JSON.stringify(params)).digest('hex').slice(0, 24)}`;
}

/**
 * Hides the key wherever it could appear in a message. A long key keeps its `sk_test_` / `sk_live_`
 * prefix (which says which mode it is); a short one, whose prefix would be most of it, is hidden whole.
 */
function redact(text: string, key: string): string {
  if (key === '') return text;
  return text.split(key).join(key.length >= 20 ? `${key.slice(0, 8)}****` : '****');
}

/**
 * Stripe Billing meter events (`POST /v1/billing/meter_events`), one per call, sent with the
 * official `stripe` package: `event_name`, `payload.stripe_customer_id`, `payload.value`,
 * `timestamp` (seconds) and `identifier` = the ledger row's id. Stripe keeps an identifier unique
 * for at least 24 hours, so sending a row again after a crash bills it once: Stripe answers "already
 * exists", which counts as accepted.
 */
export function createStripeDestination(opts: StripeDestinationOptions): Destination {
  let client: StripeType | undefined;
  const stripe = (): StripeType => {
    if (client) return client;
    const mod = loadStripe();
    const Stripe = ('default' in mod ? mod.default : mod) as typeof StripeType;
    const base = new URL(opts.apiBase ?? 'https://api.stripe.com');
    const protocol = base.protocol.replace(':', '') as 'http' | 'https';
    client = new Stripe(opts.apiKey, {
      host: base.hostname,
      port: base.port || (protocol === 'https' ? 443 : 80),
      protocol,
      maxNetworkRetries: opts.maxNetworkRetries ?? 3,
      telemetry: false,
      appInfo: { name: 'tokenlay' },
    });
    return client;
  };

  // Events whose key Stripe answered with a failure it saved (it replays a 5xx for 24 hours):
  // sent again without a key of ours, so that they can go through.
  const freshKey = new Set<string>();

  async function sendOne(event: UsageEvent): Promise<void> {
    const params = {
      event_name: opts.eventName,
      payload: { stripe_customer_id: event.customer, value: event.value },
      identifier: event.id,
      timestamp: Math.floor(event.time / 1000),
    };
    try {
      await stripe().billing.meterEvents.create(params, freshKey.has(event.id) ? undefined : { idempotencyKey: idempotencyKey(params, event.id) });
    } catch (err) {
      const e = err as { type?: string; statusCode?: number; message?: string; code?: string; param?: string; headers?: Record<string, string> };
      const message = redact(e.message ?? String(err), opts.apiKey);
      if (isDuplicate(e, event.id)) return;
      if ((e.statusCode ?? 0) >= 500 && e.headers?.['idempotent-replayed'] === 'true') freshKey.add(event.id);
      if (e.type === 'StripeAuthenticationError' || e.statusCode === 401) {
        throw new BillingError(`Stripe refused the API key in STRIPE_API_KEY (${e.statusCode ?? 401}: ${message}). Set STRIPE_API_KEY to a secret key (sk_…) or a restricted key (rk_…) that may write meter events.`, false);
      }
      if (e.type === 'StripePermissionError' || e.statusCode === 403) {
        throw new BillingError(`Stripe refused the meter event for lack of permission (403: ${message}). Give the key in STRIPE_API_KEY write access to Billing meter events.`, false);
      }
      if (e.type === 'StripeRateLimitError' || e.statusCode === 429) {
        throw new BillingError(`Stripe is rate-limiting meter events (429: ${message}); the batch will be sent again.`, true);
      }
      if (e.type === 'StripeConnectionError' || e.type === 'StripeAPIError' || (e.statusCode ?? 0) >= 500) {
        throw new BillingError(`Stripe at ${opts.apiBase ?? 'https://api.stripe.com'} could not be reached or failed (${e.statusCode ?? e.code ?? 'no answer'}: ${message}); the batch will be sent again. If that address is wrong, fix --stripe-api-base (TOKENLAY_STRIPE_API_BASE).`, true);
      }
      throw new BillingError(`Stripe refused the meter event for ledger row ${event.id} (${e.statusCode ?? '?'}: ${message}). Check --event-name (the meter's event name) and the customer mapping.`, false);
    }
  }

  return {
    name: 'stripe',
    accepts(event) {
      if (Date.now() - event.time > STRIPE_MAX_AGE_MS) return 'older than 35 days';
      return undefined;
    },
    async send(events) {
      const width = Math.max(1, opts.concurrency ?? 8);
      let next = 0;
      let failure: unknown;
      const worker = async () => {
        while (failure === undefined && next < events.length) {
          const event = events[next++]!;
          try {
            await sendOne(event);
          } catch (err) {
            failure ??= err;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(width, events.length) }, worker));
      if (failure !== undefined) throw failure;
    },
  };
}
