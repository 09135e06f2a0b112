import { estimateUsage, meterEventStream, usageFromJson, type MeteredUsage, type Pricer } from '../metering/index.js';
import { reportTrailer, setReportHeaders, type CallReport } from './answers.js';
import { answerText, parseJsonBody, type JsonBody } from './body.js';

/** Usage of a call that billed nothing. */
export const NO_USAGE: MeteredUsage = { inputTokens: 0, outputTokens: 0, cachedTokens: 0, totalTokens: 0, estimated: false };

const ESTIMATED = 'usage estimated: the provider reported none';
// Headers that describe the provider's bytes, which the engine re-frames.
const FRAMING_HEADERS = ['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive'];

/** The provider's headers without its framing, ready for the engine's own. */
export function answerHeaders(from: Headers): Headers {
  const headers = new Headers(from);
  for (const name of FRAMING_HEADERS) headers.delete(name);
  return headers;
}

/** What metering a provider answer needs to know about the call. */
export interface MeterContext {
  endpoint: string;
  pricer: Pricer;
  providerHint: string;
  /** The model the engine sent. */
  model: string | undefined;
  /** The body the engine sent (for estimates), or undefined for a non-JSON call. */
  sentBody: JsonBody | undefined;
  /** The report so far (rule, action, warnings), with the current duration. */
  report: () => CallReport;
  /** Replaces the reservation with what was used; called once. */
  settle: (used: MeteredUsage, cost: number) => void | Promise<void>;
  /** Writes the call's ledger row. */
  record: (status: number, used: MeteredUsage, cost: number, model: string | undefined) => void;
}

/**
 * The cost of a call: priced as the model the engine sent, which a price override names, else as
 * the (often dated) model the provider says it used.
 */
export function priceOf(ctx: MeterContext, used: MeteredUsage, answered: string | undefined): { cost: number; model: string | undefined } {
  if (ctx.model !== undefined) {
    const sent = ctx.pricer.price(ctx.model, used, ctx.providerHint);
    if (sent.priced || answered === undefined || answered === ctx.model) return { cost: sent.cost, model: answered ?? ctx.model };
  }
  if (answered === undefined) return { cost: 0, model: undefined };
  return { cost: ctx.pricer.price(answered, used, ctx.providerHint).cost, model: answered };
}

/** A read 2xx answer: usage from its body (estimated when absent), priced, settled, and reported in headers. */
export async function meterJson(ctx: MeterContext, status: number, providerHeaders: Headers, text: string): Promise<Response> {
  const json = parseJsonBody(text);
  const used = (json ? usageFromJson(ctx.endpoint, json) : undefined) ?? (ctx.sentBody ? estimateUsage(ctx.model, ctx.sentBody, answerText(json)) : NO_USAGE);
  const { cost, model } = priceOf(ctx, used, typeof json?.model === 'string' ? json.model : undefined);
  // The ledger row first: it is spooled at once, so a crash during the settlement round trip
  // leaves the call in the ledger (its reservation then expires) rather than counted nowhere.
  ctx.record(status, used, cost, model);
  await ctx.settle(used, cost);
  const report = { ...ctx.report(), cost, inputTokens: used.inputTokens, outputTokens: used.outputTokens };
  if (used.estimated) report.warnings = [...report.warnings, ESTIMATED];
  const headers = answerHeaders(providerHeaders);
  setReportHeaders(headers, report);
  return new Response(text, { status, headers });
}

/**
 * A streamed answer, passed through as it arrives. Usage is only known at the end: the headers
 * carry the rule's outcome, and the `: x-tokenlay {json}` trailer before `data: [DONE]` the usage
 * and cost. When the engine asked for the usage chunk on the caller's behalf it is removed. A
 * stream that the caller cancels or that breaks is settled for what was delivered.
 */
export function meterStream(ctx: MeterContext, response: Response, stripUsageChunk: boolean): Response {
  const headers = answerHeaders(response.headers);
  setReportHeaders(headers, ctx.report(), false);
  let final: { used: MeteredUsage; cost: number; model: string | undefined } | undefined;
  const conclude = (used: MeteredUsage & { model?: string }) => (final ??= { used, ...priceOf(ctx, used, used.model) });
  const stream = meterEventStream(response.body!, {
    endpoint: ctx.endpoint,
    requestBody: ctx.sentBody,
    stripUsageChunk,
    beforeDone(used) {
      const f = conclude(used);
      const report = { ...ctx.report(), cost: f.cost, inputTokens: f.used.inputTokens, outputTokens: f.used.outputTokens };
      if (f.used.estimated) report.warnings = [...report.warnings, ESTIMATED];
      return `: x-tokenlay ${JSON.stringify(reportTrailer(report))}\n\n`;
    },
    onEnd(used) {
      const f = conclude(used);
      ctx.record(response.status, f.used, f.cost, f.model);
      void ctx.settle(f.used, f.cost);
    },
  });
  return new Response(stream, { status: response.status, headers });
}
