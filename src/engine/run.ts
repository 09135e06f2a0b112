/** One call through the engine's stages: decide → admit → forward → meter and settle → answer. */
import { withModelInPath } from '../metering/index.js';
import { blankReport } from '../protocol/report.js';
import { callLimits } from './call-limits.js';
import { admit, type Admitted, type Refused } from './admission.js';
import { refusalAnswer, refusalReport } from './answer.js';
import { reportNow, type CallState } from './call.js';
import type { EngineContext } from './context.js';
import { decide, estimateFor, type Decided } from './decide.js';
import { deliverAborted, deliverCut, deliverFailure, deliverRead, deliverStream } from './deliver.js';
import { forward, providerHeaders } from './forward.js';
import type { InFlightCall } from './in-flight.js';
import { holderLostRow } from './lost-row.js';
import { NO_USAGE } from './meter.js';
import { readoutChecks } from './readouts.js';
import { refusalAction, type Refusal } from './refusal.js';
import { clampNote } from './reservation.js';
import { openSettlement } from './settle.js';
import { CLIENT_CLOSED, SentCall } from './sent-call.js';
import { isStoreFault } from './store-fault.js';
import type { EngineCall } from './types.js';

/** One call through the stages. Each stage returns what the next needs, or a refusal answered at once. */
export async function run(ctx: EngineContext, call: EngineCall, flight: InFlightCall): Promise<Response> {
  const decided = await decideStage(ctx, call);
  if (!decided.ok) return refuse(ctx, call, decided.refusal, decided.state);
  const { state } = decided;

  const admission = await admitStage(ctx, call, state);
  if (!admission.ok) return refuse(ctx, call, admission.refusal, admission.state);
  amendReport(state, { admission: admission.admitted });

  const sent = new SentCall(ctx, call, state, admission.admitted, flight);
  const models = state.body ? [state.model, ...state.decision.fallbacks.filter((f) => f !== state.model)] : [undefined];
  const result = await forwardStage(sent, models);
  const { answer } = result;
  if (answer.kind === 'aborted') return deliverAborted(sent, answer);
  amendReport(state, { failures: result.failures, answeredModel: answer.model, clamp: admission.admitted.clamp });

  const model = answer.model ?? state.model;
  switch (answer.kind) {
    case 'failed':
      return deliverFailure(sent, answer, models, result.reached);
    case 'cut':
      return deliverCut(sent, answer, model);
    case 'stream':
      return deliverStream(sent, answer, model);
    case 'read':
      return deliverRead(sent, answer, model);
  }
}

/** What the stages learnt that the call's report must say: the one place that changes a report after `decide` made it. */
interface ReportChange {
  admission?: Admitted;
  /** Models that failed before one answered. */
  failures?: string[];
  /** The model that answered, when the provider named it. */
  answeredModel?: string | undefined;
  /** Admission lowered the call's output limit. */
  clamp?: Admitted['clamp'];
}

function amendReport(state: CallState, change: ReportChange): void {
  const { report } = state;
  const { admission } = change;
  if (admission) {
    report.ruleAction = admission.ruleAction;
    report.limitExceeded = admission.limitExceeded;
    report.warnings.push(...admission.warnings);
  }
  if (change.failures) report.warnings.push(...change.failures);
  if ('answeredModel' in change) {
    const modelUsed = change.answeredModel ?? state.model;
    if (modelUsed !== state.requestedModel && modelUsed !== undefined) report.model = modelUsed;
  }
  const note = change.clamp ? clampNote(state, change.clamp, change.answeredModel) : undefined;
  if (note) {
    report.outputLimit = note.outputLimit;
    report.warnings.push(note.warning);
  }
}

/** Decide: a store fault while reading usage read-outs is a 503, nothing spent. */
async function decideStage(ctx: EngineContext, call: EngineCall): Promise<Decided> {
  try {
    return await decide(ctx, call);
  } catch (error) {
    if (!isStoreFault(error)) throw error;
    return { ok: false, refusal: { kind: 'store-unavailable', detail: (error as Error).message }, state: undefined };
  }
}

type AdmitOutcome = { ok: true; admitted: Admitted } | { ok: false; refusal: Refusal; state: CallState | undefined };

/** Admit: reserves the call on its rule's limits and read-outs, and moves the call to a downgrade's model. */
async function admitStage(ctx: EngineContext, call: EngineCall, state: CallState): Promise<AdmitOutcome> {
  const { rule, decision } = state;
  let admission: Admitted | Refused;
  try {
    admission = await admit({
      store: ctx.store,
      rule,
      ruleAction: decision.action,
      limitsAt: (t) => callLimits(state, t),
      // Settlement replaces every reservation with the actual usage, so one estimate serves all.
      trackingAt: (t, estimate) => readoutChecks(ctx.readouts, state.fields.user, t, estimate),
      estimate: state.estimate,
      estimateFor: (m) => estimateFor(ctx, state, m),
      now: ctx.now,
      sleep: ctx.sleep,
      leaseMs: ctx.leaseMs,
      signal: call.signal,
      lostRow: (e) => holderLostRow(state, e),
    });
  } catch (error) {
    // Nothing was spent: the caller may retry once the store is back.
    if (!isStoreFault(error) || call.signal?.aborted) throw error;
    return { ok: false, refusal: { kind: 'store-unavailable', detail: (error as Error).message }, state: undefined };
  }
  if (!admission.ok) return { ok: false, refusal: admission.refusal, state };
  state.action = admission.downgradeTo ? 'downgrade' : admission.ruleAction;
  if (admission.downgradeTo) state.model = admission.downgradeTo;
  state.estimate = admission.estimate;
  return { ok: true, admitted: admission };
}

/** Forward: to the provider, the rule's fallbacks after it; a caller who left before it was sent is settled as such. */
async function forwardStage(sent: SentCall, models: Array<string | undefined>): ReturnType<typeof forward> {
  const { call, state, ctx } = sent;
  try {
    return await forward({
      url: call.url,
      // A model named in the path (Gemini) is routed by rewriting the path.
      urlFor: state.pathModel === undefined ? undefined : (m) => (m === undefined ? call.url : withModelInPath(call.url, m)),
      method: call.method,
      headers: providerHeaders(call.headers, call.url),
      bodyFor: (m) => (state.body ? JSON.stringify(sent.sentBody(m)) : call.body),
      models,
      signal: call.signal,
      // A stream the caller leaves is given up from its first byte (the provider stops it); a JSON call is read to its end.
      abandonOnAbort: state.body?.stream === true,
      stop: sent.stop,
      timeoutMs: ctx.providerTimeoutMs,
      fetch: ctx.fetch,
    });
  } catch (err) {
    // Not sent: the caller left while the call was being prepared.
    await sent.nothing(CLIENT_CLOSED, state.model, false);
    throw err;
  }
}

/** A refusal answered, and recorded in the ledger when the call got as far as a rule. */
function refuse(ctx: EngineContext, call: EngineCall, refusal: Refusal, state: CallState | undefined): Response {
  const report = state ? reportNow(state) : blankReport();
  // An in-process caller gets the report as an object (embedded mode); the headers are for remote ones.
  call.reportTo?.onReport(refusalReport(refusal, report));
  const response = refusalAnswer(refusal, report);
  if (!state) return response;
  state.action = refusalAction(refusal);
  void openSettlement(ctx, state, null).settle({ status: response.status, usage: NO_USAGE, cost: 0, model: undefined, billed: false });
  return response;
}
