/**
 * A local stand-in of Stripe's `POST /v1/billing/meter_events`, following Stripe's documented
 * request and answers: a form-encoded body (`event_name`, `payload[stripe_customer_id]`,
 * `payload[value]`, `identifier`, `timestamp`), Bearer auth (401 `invalid_request_error` for a
 * wrong key), `identifier` unique (a second event with one is refused: 400 "An event already exists
 * with identifier …", `Stripe-Should-Retry: false`), the `Idempotency-Key` header (the same key
 * replays the first answer, `Idempotent-Replayed: true`), and a 429 with `Stripe-Should-Retry:
 * true`, which the stripe package retries by itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { listen, type Listening } from './http.js';

/** A meter event as Stripe keeps it. */
export interface MeterEvent {
  event_name: string;
  identifier: string;
  payload: Record<string, string>;
  timestamp: number;
  created: number;
}

export interface StripeStandIn {
  url: string;
  /** Accepted meter events, one per identifier, in order of arrival. */
  events: MeterEvent[];
  /** Every request that reached the endpoint (retries, duplicates, refusals included). */
  requests: Array<{ identifier: string | null; status: number; idempotencyKey: string | null; replayed?: boolean }>;
  /** Answer the next `n` requests 429 with `Stripe-Should-Retry: true`. */
  rateLimitNext(n: number): void;
  /**
   * Answer the next `n` new requests 500 `api_error`, and keep that answer under their
   * `Idempotency-Key` as Stripe does (a request with the key gets the 500 again for 24 hours).
   */
  failNext(n: number): void;
  /** From now on, leave requests unanswered after `n` more were answered (until {@link release}). */
  holdAfter(n: number): void;
  /** Requests waiting unanswered. */
  held(): number;
  /** Answers (and records) every held request, and holds no more. */
  release(): void;
  /**
   * Stops refusing an identifier seen before, as an asynchronous Stripe that checks it later does:
   * then only the `Idempotency-Key` (replayed for 24 hours) keeps an event from being counted twice.
   * `events` then holds every event accepted, duplicates included.
   */
  acceptDuplicateIdentifiers(): void;
  close(): Promise<void>;
}

const stripeError = (res: ServerResponse, status: number, error: Record<string, unknown>, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(7).toString('hex')}`, ...headers });
  res.end(JSON.stringify({ error }));
};

/** Starts the stand-in on 127.0.0.1; it accepts only `apiKey`. */
export async function startStripeStandIn(apiKey: string): Promise<StripeStandIn> {
  const events: MeterEvent[] = [];
  const byIdentifier = new Map<string, MeterEvent>();
  const replays = new Map<string, { status: number; body: string }>();
  const requests: StripeStandIn['requests'] = [];
  let rateLimited = 0;
  let duplicatesRefused = true;
  let failing = 0;
  let answerBeforeHold = Infinity;
  const waiting: Array<() => void> = [];

  function handle(req: IncomingMessage, res: ServerResponse, text: string): void {
    const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const form = new URLSearchParams(text);
    const identifier = form.get('identifier');
    const record = (status: number) => requests.push({ identifier, status, idempotencyKey });
    if (idempotencyKey && replays.has(idempotencyKey)) {
      const first = replays.get(idempotencyKey)!;
      requests.push({ identifier, status: first.status, idempotencyKey, replayed: true });
      res.writeHead(first.status, { 'content-type': 'application/json', 'idempotent-replayed': 'true', 'idempotency-key': idempotencyKey });
      res.end(first.body);
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ')) {
      record(401);
      return stripeError(res, 401, { type: 'invalid_request_error', message: 'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.' });
    }
    const key = auth.slice('Bearer '.length);
    if (key !== apiKey) {
      record(401);
      return stripeError(res, 401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` });
    }
    if (rateLimited > 0) {
      rateLimited -= 1;
      record(429);
      return stripeError(res, 429, { type: 'invalid_request_error', code: 'rate_limit', message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.' }, { 'stripe-should-retry': 'true' });
    }
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const json = JSON.stringify(body);
      if (idempotencyKey) replays.set(idempotencyKey, { status, body: json });
      record(status);
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(7).toString('hex')}`, ...headers });
      res.end(json);
    };
    if (failing > 0) {
      failing -= 1;
      return answer(500, { error: { type: 'api_error', message: 'An unknown error occurred' } }, { 'stripe-should-retry': 'true' });
    }
    for (const param of ['event_name', 'payload[stripe_customer_id]', 'payload[value]']) {
      if (!form.get(param)) return answer(400, { error: { type: 'invalid_request_error', code: 'parameter_missing', param, message: `Missing required param: ${param}.` } });
    }
    const value = form.get('payload[value]')!;
    if (!/^\d+(\.\d+)?$/.test(value)) return answer(400, { error: { type: 'invalid_request_error', param: 'payload[value]', message: `Invalid value: ${value} is not a positive number.` } });
    const id = identifier ?? `evt_${randomBytes(12).toString('hex')}`;
    if (duplicatesRefused && byIdentifier.has(id)) {
      return answer(400, { error: { type: 'invalid_request_error', message: `An event already exists with identifier ${id}.` } }, { 'stripe-should-retry': 'false' });
    }
    const payload: Record<string, string> = {};
    for (const [name, v] of form) {
      const m = /^payload\[(.+)\]$/.exec(name);
      if (m) payload[m[1]!] = v;
    }
    const now = Math.floor(Date.now() / 1000);
    const event: MeterEvent = { event_name: form.get('event_name')!, identifier: id, payload, timestamp: Number(form.get('timestamp') ?? now), created: now };
    byIdentifier.set(id, event);
    events.push(event);
    answer(200, { object: 'billing.meter_event', livemode: false, ...event });
  }

  const server: Listening = await listen((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v1/billing/meter_events') {
      return stripeError(res, 404, { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${req.url}).` });
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (answerBeforeHold <= 0) {
        waiting.push(() => handle(req, res, text));
        return;
      }
      answerBeforeHold -= 1;
      handle(req, res, text);
    });
  });

  return {
    url: server.url,
    events,
    requests,
    rateLimitNext(n) {
      rateLimited = n;
    },
    holdAfter(n) {
      answerBeforeHold = n;
    },
    held: () => waiting.length,
    failNext(n) {
      failing = n;
    },
    acceptDuplicateIdentifiers() {
      duplicatesRefused = false;
    },
    release() {
      answerBeforeHold = Infinity;
      for (const go of waiting.splice(0)) go();
    },
    close: () => server.close(),
  };
}
