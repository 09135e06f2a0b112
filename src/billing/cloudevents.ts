import { costUnits, formatUsd } from '../store/money.js';
import { BillingError, type Destination, type UsageEvent } from './types.js';

/** Options of {@link createCloudEventsDestination}. */
export interface CloudEventsOptions {
  /** Where events are POSTed, e.g. OpenMeter's `https://openmeter.cloud/api/v1/events`. */
  url: string;
  /** The events' `type` (an OpenMeter meter's event type). */
  type: string;
  /** The events' `source`. Default `tokenlay`. */
  source?: string;
  /** Sent as `Authorization: Bearer …` (env `TOKENLAY_CLOUDEVENTS_TOKEN`); never logged or shown. */
  token?: string;
  /** `batch`: one `application/cloudevents-batch+json` request per batch (default); `single`: one `application/cloudevents+json` request per event. */
  mode?: 'batch' | 'single';
  /** Longest wait for an answer, ms. Default 30000. */
  timeoutMs?: number;
}

/** The CloudEvents 1.0 structured-mode JSON of one call. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, string | number | null>;
}

/** A call as a CloudEvent: the ledger row's id as `id`, the customer as `subject` (OpenMeter's). */
export function toCloudEvent(event: UsageEvent, type: string, source: string): CloudEvent {
  const r = event.row;
  return {
    specversion: '1.0',
    id: event.id,
    source,
    type,
    subject: event.customer,
    time: new Date(r.time).toISOString(),
    datacontenttype: 'application/json',
    data: {
      value: event.value,
      // An exact decimal, as `value`: String() of a small cost gives exponent notation (1.5e-7).
      cost_usd: formatUsd(costUnits(r.cost)),
      input_tokens: r.inputTokens,
      output_tokens: r.outputTokens,
      cached_tokens: r.cachedTokens,
      tokens: r.inputTokens + r.outputTokens,
      model: r.modelUsed ?? r.modelRequested,
      status: r.status,
      user: r.fields.user ?? null,
      org: r.fields.org ?? null,
      plan: r.fields.plan ?? null,
    },
  };
}

/**
 * CloudEvents over HTTP in structured JSON mode, as OpenMeter ingests them. A receiver that
 * deduplicates on `id` and `source` (OpenMeter does) counts a row sent again after a crash once.
 */
export function createCloudEventsDestination(opts: CloudEventsOptions): Destination {
  const source = opts.source ?? 'tokenlay';
  const mode = opts.mode ?? 'batch';
  const shownUrl = opts.url.replace(/\/\/[^/@]*@/, '//***@');

  async function post(body: unknown, contentType: string): Promise<void> {
    let res: Response;
    try {
      res = await fetch(opts.url, {
        method: 'POST',
        headers: { 'content-type': contentType, ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new BillingError(`the CloudEvents endpoint ${shownUrl} could not be reached (${(err as Error).cause ? String((err as { cause: { code?: string } }).cause.code ?? (err as Error).message) : (err as Error).message}); the batch will be sent again.`, true);
    }
    const text = (await res.text().catch(() => '')).slice(0, 300);
    if (res.ok) return;
    if (res.status === 401 || res.status === 403) {
      throw new BillingError(`the CloudEvents endpoint ${shownUrl} refused the credentials (${res.status}: ${text}); set TOKENLAY_CLOUDEVENTS_TOKEN to a token it accepts.`, false);
    }
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new BillingError(`the CloudEvents endpoint ${shownUrl} answered ${res.status}${text ? `: ${text}` : ''}${retryable ? '; the batch will be sent again.' : '. Check the URL and --event-name.'}`, retryable);
  }

  return {
    name: `cloudevents ${shownUrl}`,
    async send(events) {
      const ces = events.map((e) => toCloudEvent(e, opts.type, source));
      if (mode === 'batch') return post(ces, 'application/cloudevents-batch+json');
      for (const ce of ces) await post(ce, 'application/cloudevents+json');
    },
  };
}
