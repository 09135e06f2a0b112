/** The meter stage: usage of an answered call from its JSON body or SSE stream (estimated when absent), priced. */
import { answeredModel, estimateUsage, meterEventStream, plausibleUsage, priceAnswer, reservationEstimate, usageFromJson, type MeteredUsage, type Pricer } from '../metering/index.js';
import { withinSentLimit } from '../metering/sent-limit.js';
import { writeTrailer, type CallReport } from '../protocol/report.js';
import { answerText, parseJsonBody, type JsonBody } from './body.js';

/** Usage of a call that billed nothing. */
export const NO_USAGE: MeteredUsage = { inputTokens: 0, outputTokens: 0, cachedTokens: 0, totalTokens: 0, estimated: false };

/** The warning a report carries when the provider gave no usage. */
export const ESTIMATED_WARNING = 'usage estimated: the provider reported none';

/**
 * The warning of a call that names a model but sent no JSON body (a multipart upload) and whose
 * answer reports no usage: nothing to estimate from, so it is metered at $0 and flagged estimated.
 */
export const UNMETERED_WARNING = 'usage unknown: the provider reported none and the call has no JSON body to estimate from; metered at $0';

/** What metering a provider answer needs to know about the call. */
export interface MeterContext {
  endpoint: string;
  pricer: Pricer;
  providerHint: string;
  /** The model the engine sent. */
  model: string | undefined;
  /** The body the engine sent (for estimates), or undefined for a non-JSON call. */
  sentBody: JsonBody | undefined;
}

/** Usage, its price in USD, and the model to record. */
export interface Metered {
  used: MeteredUsage;
  cost: number;
  model: string | undefined;
  /** "Metered at $0": neither the model sent nor the model answered has a price. */
  warning?: string | undefined;
}

/** The cost of a call, see {@link priceAnswer}: a "metered at $0" warning only when no price was found. */
export function priceOf(ctx: MeterContext, reported: MeteredUsage, answered: string | undefined): Metered {
  // No call writes past the output limit it was sent with (a clamp included).
  const used = withinSentLimit(reported, ctx.sentBody);
  return { used, ...priceAnswer(ctx.pricer, ctx.model, answered, used, ctx.providerHint) };
}

/** A read 2xx answer's usage: from its body, else estimated from the request and the answer's text. */
export function meterJson(ctx: MeterContext, text: string): Metered {
  // A JSON array is a Gemini stream read whole (streamGenerateContent without alt=sse).
  const json = parseJsonBody(text) ?? parseJsonArray(text);
  const reported = json ? usageFromJson(ctx.endpoint, json) : undefined;
  const delivered = answerText(json);
  if (!ctx.sentBody && !reported && ctx.model !== undefined) return { used: { ...NO_USAGE, estimated: true }, cost: 0, model: ctx.model, warning: UNMETERED_WARNING };
  const used = ctx.sentBody ? plausibleUsage(reported, delivered, () => estimateUsage(ctx.model, ctx.sentBody, delivered)) : (reported ?? NO_USAGE);
  return priceOf(ctx, used, answeredModel(json));
}

function parseJsonArray(text: string): unknown[] | undefined {
  if (!text.trimStart().startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The usage of a call the caller abandoned after it was sent: the provider may have billed all of
 * it, so input is estimated from the request and output is what the call asked for at most.
 */
export function meterAbandoned(ctx: MeterContext): Metered {
  if (ctx.model === undefined || ctx.sentBody === undefined) return { used: { ...NO_USAGE, estimated: true }, cost: 0, model: ctx.model };
  const e = reservationEstimate(ctx.model, ctx.sentBody, ctx.pricer, { endpoint: ctx.endpoint, providerHint: ctx.providerHint });
  const used: MeteredUsage = { inputTokens: e.inputTokens, outputTokens: e.outputTokens, cachedTokens: 0, totalTokens: e.tokens, estimated: true };
  return { used, cost: e.cost, model: ctx.model };
}

/** The report with a metered call's usage. */
export function withUsage(report: CallReport, metered: Metered): CallReport {
  const out = { ...report, cost: metered.cost, inputTokens: metered.used.inputTokens, outputTokens: metered.used.outputTokens };
  if (metered.warning) out.warnings = [...out.warnings, metered.warning];
  if (metered.used.estimated && metered.warning !== UNMETERED_WARNING) out.warnings = [...out.warnings, ESTIMATED_WARNING];
  return out;
}

/**
 * A streamed answer, passed through as it arrives. Usage is only known at the end: the
 * `: x-tokenlay {json}` trailer before `data: [DONE]` carries it. When the engine asked for the
 * usage chunk on the caller's behalf it is removed. `onEnd` is told once, when the stream ends,
 * breaks or is cancelled, with what was delivered.
 */
export function meterStream(
  ctx: MeterContext,
  body: ReadableStream<Uint8Array>,
  opts: { stripUsageChunk: boolean; report: () => CallReport; onEnd: (metered: Metered, info: { cutOff: boolean }) => void },
): ReadableStream<Uint8Array> {
  let final: Metered | undefined;
  const conclude = (used: MeteredUsage & { model?: string }) => (final ??= priceOf(ctx, used, used.model));
  return meterEventStream(body, {
    endpoint: ctx.endpoint,
    requestBody: ctx.sentBody,
    stripUsageChunk: opts.stripUsageChunk,
    beforeDone: (used) => writeTrailer(withUsage(opts.report(), conclude(used))),
    onEnd: (used, { cutOff }) => opts.onEnd(conclude(used), { cutOff }),
  });
}
