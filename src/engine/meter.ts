/** The meter stage: usage of an answered call from its JSON body or SSE stream (estimated when absent), priced. */
import {
  answeredModel,
  estimateOutputTokens,
  estimateRequestTokens,
  estimateUsage,
  meterEventStream,
  plausibleUsage,
  priceAnswer,
  reservationEstimate,
  usageBeyondLimits,
  usageFromJson,
  usageLimits,
  type EstimateReason,
  type UsageLimits,
  type MeteredUsage,
  type Pricer,
} from '../metering/index.js';
import { withinSentLimit } from '../metering/sent-limit.js';
import { writeTrailer, type CallReport } from '../protocol/report.js';
import { answerText, parseJsonBody, type JsonBody } from './body.js';

/** Usage of a call that billed nothing. */
export const NO_USAGE: MeteredUsage = { inputTokens: 0, outputTokens: 0, cachedTokens: 0, totalTokens: 0, estimated: false };

/** The warning a report carries when the provider gave no usage. */
export const ESTIMATED_WARNING = 'usage estimated: the provider reported none';

/** The warning of an estimated call: why its usage is estimated. */
function estimatedWarning(used: MeteredUsage): string {
  if (used.estimateReason === 'implausible usage') return `usage estimated: the provider reported usage no call can have (${used.estimateNote ?? 'not believable'})`;
  if (used.estimateReason === 'body cut off') return `usage estimated: the provider's answer was cut off (${used.estimateNote ?? 'incomplete'})`;
  return ESTIMATED_WARNING;
}

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
  const held = withinSentLimit(reported, ctx.sentBody);
  const used =
    held === reported || held.estimateReason !== undefined
      ? held
      : { ...held, estimateReason: 'implausible usage' as const, estimateNote: `${reported.outputTokens} output tokens, more than the call was sent to write (${held.outputTokens})` };
  return { used, ...priceAnswer(ctx.pricer, ctx.model, answered, used, ctx.providerHint) };
}

/** What the call can have used at most: reported usage beyond it is not believed. */
function limitsOf(ctx: MeterContext) {
  return usageLimits(ctx.model, ctx.sentBody, ctx.pricer, ctx.providerHint);
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
 * A read 2xx answer's usage: from its body, else estimated from the request and the answer's
 * text. Usage no call can have is estimated and flagged (see `usage-bounds.ts`). A body that
 * should be JSON (`jsonExpected`, from its content type) but does not parse was cut off: see {@link meterCut}.
 */
export function meterJson(ctx: MeterContext, text: string, jsonExpected = false): Metered {
  // A JSON array is a Gemini stream read whole (streamGenerateContent without alt=sse).
  const json = parseJsonBody(text) ?? parseJsonArray(text);
  if (json === undefined && jsonExpected && ctx.sentBody && !isJson(text)) return meterCut(ctx, text, undefined, `its JSON body stops short after ${text.length} characters`);
  const reported = json ? usageFromJson(ctx.endpoint, json) : undefined;
  const delivered = answerText(json);
  if (!ctx.sentBody && !reported && ctx.model !== undefined) return { used: { ...NO_USAGE, estimated: true, estimateReason: 'no usage' }, cost: 0, model: ctx.model, warning: UNMETERED_WARNING };
  const limits = limitsOf(ctx);
  const used = ctx.sentBody ? plausibleUsage(reported, delivered, () => estimateUsage(ctx.model, ctx.sentBody, delivered), limits) : believed(reported, limits);
  return priceOf(ctx, reasoned(used), answeredModel(json));
}

/** Usage as metered from an answer: estimated for no other reason given, the provider reported none (or none with text). */
function reasoned(used: MeteredUsage): MeteredUsage {
  return used.estimated && used.estimateReason === undefined ? { ...used, estimateReason: 'no usage' } : used;
}

/** Whether `text` is JSON of any kind (an array or a number too). */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Reported usage of a call without a JSON request, which leaves nothing to estimate from: none, flagged, when not believable. */
function believed(reported: MeteredUsage | undefined, limits: UsageLimits): MeteredUsage {
  if (reported === undefined || reported.estimateReason === 'implausible usage') return reported ?? NO_USAGE;
  const problem = usageBeyondLimits(reported, limits);
  return problem === undefined ? reported : { ...NO_USAGE, estimated: true, estimateReason: 'implausible usage', estimateNote: problem };
}

/** The byte length of a text as UTF-8. */
const byteLength = (text: string) => new TextEncoder().encode(text).length;

/**
 * The usage of a 2xx answer whose body broke off, flagged `body cut off`: the provider has billed
 * it, and its usage is lost with the end of the body. Input is estimated from the request; output
 * as the tokens of the body that arrived, scaled up to the length its headers promised
 * (`declaredBytes`), and never more than the call could write (its reservation's output).
 */
export function meterCut(ctx: MeterContext, received: string, declaredBytes: number | undefined, detail: string): Metered {
  const receivedBytes = byteLength(received);
  const scale = declaredBytes !== undefined && receivedBytes > 0 && declaredBytes > receivedBytes ? declaredBytes / receivedBytes : 1;
  let outputTokens = Math.ceil(estimateOutputTokens(ctx.model, received) * scale);
  if (ctx.model !== undefined && ctx.sentBody !== undefined) {
    const most = reservationEstimate(ctx.model, ctx.sentBody, ctx.pricer, { endpoint: ctx.endpoint, providerHint: ctx.providerHint }).outputTokens;
    outputTokens = receivedBytes === 0 ? most : Math.min(outputTokens, most);
  }
  const inputTokens = ctx.sentBody ? estimateRequestTokens(ctx.model, ctx.sentBody) : 0;
  const used: MeteredUsage = {
    inputTokens,
    outputTokens,
    cachedTokens: 0,
    totalTokens: inputTokens + outputTokens,
    estimated: true,
    estimateReason: 'body cut off',
    estimateNote: `after ${receivedBytes}${declaredBytes === undefined ? '' : ` of ${declaredBytes}`} bytes: ${detail}`,
  };
  return priceOf(ctx, used, undefined);
}

/**
 * The usage of a stream whose caller left before its first byte, flagged `caller left`: it is
 * given up at once, and the provider stops a stream that is left, so input is estimated from the
 * request and nothing was written yet.
 */
export function meterLeftStream(ctx: MeterContext): Metered {
  const inputTokens = ctx.sentBody ? estimateRequestTokens(ctx.model, ctx.sentBody) : 0;
  return priceOf(ctx, { inputTokens, outputTokens: 0, cachedTokens: 0, totalTokens: inputTokens, estimated: true, estimateReason: 'caller left' }, undefined);
}

/**
 * The usage of a call given up after it was sent with nothing to meter (shutdown, a fault): the
 * provider may have billed all of it, so input is estimated from the request and output is what
 * the call could write at most.
 */
export function meterAbandoned(ctx: MeterContext, reason: EstimateReason = 'cut off'): Metered {
  if (ctx.model === undefined || ctx.sentBody === undefined) return { used: { ...NO_USAGE, estimated: true, estimateReason: reason }, cost: 0, model: ctx.model };
  const e = reservationEstimate(ctx.model, ctx.sentBody, ctx.pricer, { endpoint: ctx.endpoint, providerHint: ctx.providerHint });
  const used: MeteredUsage = { inputTokens: e.inputTokens, outputTokens: e.outputTokens, cachedTokens: 0, totalTokens: e.tokens, estimated: true, estimateReason: reason };
  return { used, cost: e.cost, model: ctx.model };
}

/** The report with a metered call's usage. */
export function withUsage(report: CallReport, metered: Metered): CallReport {
  const out = { ...report, cost: metered.cost, inputTokens: metered.used.inputTokens, outputTokens: metered.used.outputTokens };
  if (metered.warning) out.warnings = [...out.warnings, metered.warning];
  if (metered.used.estimated && metered.warning !== UNMETERED_WARNING) out.warnings = [...out.warnings, estimatedWarning(metered.used)];
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
  const conclude = (used: MeteredUsage & { model?: string }) => (final ??= priceOf(ctx, reasoned(used), used.model));
  return meterEventStream(body, {
    endpoint: ctx.endpoint,
    requestBody: ctx.sentBody,
    limits: limitsOf(ctx),
    stripUsageChunk: opts.stripUsageChunk,
    beforeDone: (used) => writeTrailer(withUsage(opts.report(), conclude(used))),
    onEnd: (used, { cutOff }) => opts.onEnd(conclude(used), { cutOff }),
  });
}
