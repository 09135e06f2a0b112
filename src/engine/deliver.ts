/**
 * The last stages of a call the provider answered: meter its usage, settle it, and answer the
 * caller. From here on nothing tokenlay does may fail the call or make the SDK send it again:
 * faults are reported once and the provider's answer goes out.
 */
import type { CallReport } from '../protocol/report.js';
import { answerHeaders, providerCutAnswer, providerFailureAnswer, readAnswer, streamAnswer } from './answer.js';
import { readBudget, tightest, tightestFromReadings } from './budget.js';
import { reportNow } from './call.js';
import type { ProviderAnswer } from './forward.js';
import { cancelWhenIdle } from './idle.js';
import { meterCut, meterJson, meterLeftStream, meterAbandoned, meterStream, withUsage, type Metered } from './meter.js';
import { reportAfterAnswer } from './report-error.js';
import { callLimits } from './call-limits.js';
import { CLIENT_CLOSED, type SentCall } from './sent-call.js';

/**
 * How long an answer waits for its settlement (ms). A healthy store settles in well under a
 * millisecond, so the answer goes out counted; a locked or slow store must not hold the answer
 * back: the settlement goes on in the background.
 */
const ANSWER_WAITS_FOR_SETTLEMENT_MS = 100;

// One promise and one timer per answer (no race, no finally): this runs on every JSON call.
// Resolves true when the settlement landed in time, false when the answer goes on without it.
function settledOrLater(settling: Promise<void>): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ANSWER_WAITS_FOR_SETTLEMENT_MS);
    void settling.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Hands an in-process caller the report its answer carries (docs/protocol.md §2), as an object. */
function reported(sent: SentCall, report: CallReport): CallReport {
  sent.call.reportTo?.onReport(report);
  return report;
}

/**
 * What is left after this call, for `x-tokenlay-budget-remaining`: read once the call is settled
 * (a JSON answer), or with its reservation still held (a stream's headers go out first). Once
 * settled, the counters the call held are known as the settlement left them, and nothing is read
 * (a promise only when the store must be read: a window turned since, a rolling window's earlier
 * steps, a store that did not say).
 */
function budgetLeft(sent: SentCall): Promise<void> | undefined {
  const { ctx, state } = sent;
  const now = ctx.now();
  const limits = callLimits(state, now);
  if (limits.length === 0) return undefined;
  const ruleId = state.rule?.id ?? null;
  const counters = sent.settlement.counters;
  const known = counters && tightestFromReadings(counters, limits);
  if (known !== undefined) {
    state.report.budget = known ?? undefined;
    return undefined;
  }
  return readBudget(ctx.store, limits, ruleId, now).then(
    (read) => {
      state.report.budget = tightest(read);
    },
    (error: unknown) => reportAfterAnswer('reading the budget left failed after the provider answered; the answer goes out without it', error),
  );
}

/** Runs a step after the provider answered; when it throws, reports it once and uses `fallback`. */
function afterAnswer<T>(what: string, step: () => T, fallback: () => T): T {
  try {
    return step();
  } catch (error) {
    reportAfterAnswer(`${what} failed after the provider answered; the answer goes out without it`, error);
    return fallback();
  }
}

/** Whether an answer's content type says JSON. */
function isJsonType(headers: Headers): boolean {
  return /\bjson\b/i.test(headers.get('content-type') ?? '');
}

/** Settles a metered call the provider may have billed. */
function settleBilled(sent: SentCall, status: number, metered: Metered): Promise<void> {
  return sent.settlement.settle({ status, usage: metered.used, cost: metered.cost, model: metered.model, billed: true });
}

/** A call ended by shutdown after it was sent: charged as cut off, and its reason thrown. */
export async function deliverAborted(sent: SentCall, answer: Extract<ProviderAnswer, { kind: 'aborted' }>): Promise<never> {
  await settleBilled(sent, CLIENT_CLOSED, meterAbandoned(sent.meterFor(answer.model), 'cut off'));
  throw answer.reason;
}

/** No model's provider answered: 504 on a timeout, else 502; nothing billed. */
export async function deliverFailure(sent: SentCall, answer: Extract<ProviderAnswer, { kind: 'failed' }>, models: Array<string | undefined>, reached: boolean): Promise<Response> {
  const { state } = sent;
  const response = providerFailureAnswer({ timeout: answer.reason === 'timeout', hint: state.hint, detail: answer.detail, models }, reported(sent, reportNow(state)));
  await sent.nothing(response.status, answer.model ?? state.model, reached);
  return response;
}

/** A 2xx answer whose body broke off: charged an estimate, answered 502. */
export async function deliverCut(sent: SentCall, answer: Extract<ProviderAnswer, { kind: 'cut' }>, model: string | undefined): Promise<Response> {
  const meter = sent.meterFor(model);
  const metered = afterAnswer('metering the answer', () => meterCut(meter, answer.text, answer.declaredBytes, answer.detail), () => meterAbandoned(meter, 'body cut off'));
  const response = afterAnswer(
    'the answer headers',
    () => providerCutAnswer({ hint: sent.state.hint, status: answer.status, detail: answer.detail }, reported(sent, withUsage(reportNow(sent.state), metered))),
    () => new Response(answer.text, { status: 502, headers: answerHeaders(answer.headers) }),
  );
  await settledOrLater(settleBilled(sent, sent.statusOf(response.status), metered));
  return response;
}

/** A streamed answer: metered as it passes, settled at its end, its report in the trailer. */
export async function deliverStream(sent: SentCall, answer: Extract<ProviderAnswer, { kind: 'stream' }>, model: string | undefined): Promise<Response> {
  const { state, ctx } = sent;
  const { status, headers } = answer.response;
  const meter = sent.meterFor(model);
  const reading = budgetLeft(sent);
  if (reading) await reading;
  if (sent.left()) {
    // The caller left before the first byte: the stream is given up, and the provider stops it.
    await answer.response.body?.cancel().catch(() => undefined);
    const metered = afterAnswer('metering the answer', () => meterLeftStream(meter), () => meterAbandoned(meter, 'caller left'));
    await settleBilled(sent, CLIENT_CLOSED, metered);
    throw sent.call.signal!.reason;
  }
  const stream = meterStream(meter, answer.response.body!, {
    stripUsageChunk: sent.askUsage,
    report: () => reportNow(state),
    onEnd: (m, { cutOff }) => {
      // A stream that stopped before its end event (Anthropic's message_stop) was cut off.
      void settleBilled(sent, cutOff ? CLIENT_CLOSED : status, m);
      const sink = sent.call.reportTo;
      if (sink) afterAnswer('reporting the settled stream', () => sink.onSettled(withUsage(reportNow(state), m)), () => undefined);
    },
  });
  const idle = cancelWhenIdle(stream, ctx.streamIdleTimeout);
  return afterAnswer('the answer headers', () => streamAnswer(status, headers, idle, reported(sent, reportNow(state))), () => new Response(idle, { status, headers: answerHeaders(headers) }));
}

/**
 * A read answer: a 2xx one metered and settled before it goes out (or at most
 * {@link ANSWER_WAITS_FOR_SETTLEMENT_MS} later); a refusal or failure of the provider passed
 * through, nothing billed, but counted as a call that reached the provider (requests limits count it).
 */
export async function deliverRead(sent: SentCall, answer: Extract<ProviderAnswer, { kind: 'read' }>, model: string | undefined): Promise<Response> {
  const { state } = sent;
  const fallback = () => new Response(answer.bytes, { status: answer.status, headers: answerHeaders(answer.headers) });
  if (answer.status >= 200 && answer.status < 300) {
    const meter = sent.meterFor(model);
    const metered = afterAnswer('metering the answer', () => meterJson(meter, answer.text, isJsonType(answer.headers)), () => meterAbandoned(meter));
    // A store that could not settle in time (locked, slow) is not read again for the budget: the answer goes out without it.
    if (await settledOrLater(settleBilled(sent, sent.statusOf(answer.status), metered))) {
      const reading = budgetLeft(sent);
      if (reading) await reading;
    }
    return afterAnswer('the answer headers', () => readAnswer(answer.status, answer.headers, answer.bytes, reported(sent, withUsage(reportNow(state), metered))), fallback);
  }
  await sent.nothing(answer.status, model, true);
  return afterAnswer('the answer headers', () => readAnswer(answer.status, answer.headers, answer.bytes, reported(sent, reportNow(state))), fallback);
}
