import { createAlerts, hasAlerts } from '../alerts/notifier.js';
import { createPricer } from '../metering/index.js';
import { loadRules } from '../policy/load.js';
import { resolveLimits } from '../policy/limits.js';
import { usageReadouts } from '../policy/usage.js';
import type { RulesDocument } from '../policy/types.js';
import { blankReport } from '../protocol/report.js';
import { createStore } from '../store/index.js';
import { admit } from './admission.js';
import { providerFailureAnswer, readAnswer, refusalAnswer, streamAnswer } from './answer.js';
import { callerAskedForUsage, isStreamedChat, providerBody, type JsonBody } from './body.js';
import { reportNow, type CallState } from './call.js';
import type { EngineContext } from './context.js';
import { decide, estimateFor } from './decide.js';
import { forward, providerHeaders } from './forward.js';
import { meterAbandoned, meterJson, meterStream, NO_USAGE, withUsage, type MeterContext } from './meter.js';
import { readoutChecks } from './readouts.js';
import { refusalAction, type Refusal } from './refusal.js';
import { openSettlement } from './settle.js';
import type { Engine, EngineCall, EngineConfig, ModelPrice } from './types.js';

function docPrices(doc: RulesDocument | undefined): Record<string, ModelPrice> {
  const out: Record<string, ModelPrice> = {};
  for (const [model, p] of Object.entries(doc?.prices ?? {})) {
    out[model] = p.cached_input === undefined ? { input: p.input, output: p.output } : { input: p.input, output: p.output, cachedInput: p.cached_input };
  }
  return out;
}

let warnedMemory = false;

/** Limits on the default memory store reset with the process: say so once, with the fix. */
function warnMemoryBudgets(): void {
  if (warnedMemory) return;
  warnedMemory = true;
  process.emitWarning(
    "tokenlay: usage limits are counted in memory (no store option), so they reset when the process restarts. Pass store: 'sqlite:./.tokenlay/usage.db' (or set TOKENLAY_STORE) to keep them.",
  );
}

/** A refusal answered, and recorded in the ledger when the call got as far as a rule. */
function refuse(ctx: EngineContext, refusal: Refusal, state: CallState | undefined): Response {
  if (!state) return refusalAnswer(refusal, blankReport());
  const response = refusalAnswer(refusal, reportNow(state));
  state.action = refusalAction(refusal);
  void openSettlement(ctx, state, null).settle({ status: response.status, usage: NO_USAGE, cost: 0, model: undefined, billed: false });
  return response;
}

/** The ledger status of a call whose caller went away (nginx's 499 "client closed request"). */
const CLIENT_CLOSED = 499;

/** One call through the stages: decide → admit → forward → meter → settle → answer. */
async function run(ctx: EngineContext, call: EngineCall): Promise<Response> {
  const decided = await decide(ctx, call);
  if (!decided.ok) return refuse(ctx, decided.refusal, decided.state);
  const { state } = decided;
  const { rule, decision, body } = state;

  const admission = await admit({
    store: ctx.store,
    rule,
    ruleAction: decision.action,
    limitsAt: (t) => (rule ? resolveLimits(rule, decision.context, t) : []),
    // Settlement replaces every reservation with the actual usage, so one estimate serves all.
    trackingAt: (t) => readoutChecks(ctx.readouts, state.fields.user, t, state.estimate),
    estimate: state.estimate,
    estimateFor: (m) => estimateFor(ctx, state, m),
    now: ctx.now,
    leaseMs: ctx.leaseMs,
    signal: call.signal,
  });
  if (!admission.ok) return refuse(ctx, admission.refusal, state);
  const { report } = state;
  report.ruleAction = admission.ruleAction;
  report.limitExceeded = admission.limitExceeded;
  report.warnings.push(...admission.warnings);
  state.action = admission.downgradeTo ? 'downgrade' : admission.ruleAction;
  if (admission.downgradeTo) state.model = admission.downgradeTo;
  const priceWarning = body && state.model !== undefined ? ctx.pricer.price(state.model, NO_USAGE, state.hint).warning : undefined;
  if (priceWarning) report.warnings.push(priceWarning);

  const settlement = openSettlement(ctx, state, admission.reservationId);
  const nothing = (status: number, model: string | undefined) => settlement.settle({ status, usage: NO_USAGE, cost: 0, model, billed: false });

  const askUsage = isStreamedChat(state.endpoint, body) && !callerAskedForUsage(body);
  const sentBody = (m: string | undefined): JsonBody | undefined => (body ? providerBody(body, decision.params, m, askUsage) : undefined);
  const models = body ? [state.model, ...decision.fallbacks.filter((f) => f !== state.model)] : [undefined];
  let result: Awaited<ReturnType<typeof forward>>;
  try {
    result = await forward({
      url: call.url,
      method: call.method,
      headers: providerHeaders(call.headers),
      bodyFor: (m) => (body ? JSON.stringify(sentBody(m)) : call.body),
      models,
      signal: call.signal,
      timeoutMs: ctx.providerTimeoutMs,
      fetch: ctx.fetch,
    });
  } catch (err) {
    // Not sent: the caller left while the call was being prepared.
    await nothing(499, state.model);
    throw err;
  }
  const { answer, failures } = result;
  if (answer.kind === 'aborted') {
    const meter: MeterContext = { endpoint: state.endpoint, pricer: ctx.pricer, providerHint: state.hint, model: answer.model, sentBody: sentBody(answer.model) };
    const metered = meterAbandoned(meter);
    await settlement.settle({ status: CLIENT_CLOSED, usage: metered.used, cost: metered.cost, model: metered.model, billed: true });
    throw answer.reason;
  }
  report.warnings.push(...failures);
  const modelUsed = answer.model ?? state.model;
  if (modelUsed !== state.requestedModel && modelUsed !== undefined) report.model = modelUsed;

  if (answer.kind === 'failed') {
    const response = providerFailureAnswer({ timeout: answer.reason === 'timeout', hint: state.hint, detail: answer.detail, models }, reportNow(state));
    await nothing(response.status, modelUsed);
    return response;
  }

  const meter: MeterContext = { endpoint: state.endpoint, pricer: ctx.pricer, providerHint: state.hint, model: modelUsed, sentBody: sentBody(modelUsed) };
  if (answer.kind === 'stream') {
    const stream = meterStream(meter, answer.response.body!, {
      stripUsageChunk: askUsage,
      report: () => reportNow(state),
      onEnd: (m) => void settlement.settle({ status: answer.response.status, usage: m.used, cost: m.cost, model: m.model, billed: true }),
    });
    return streamAnswer(answer.response.status, answer.response.headers, stream, reportNow(state));
  }
  if (answer.status >= 200 && answer.status < 300) {
    const metered = meterJson(meter, answer.text);
    await settlement.settle({ status: answer.status, usage: metered.used, cost: metered.cost, model: metered.model, billed: true });
    return readAnswer(answer.status, answer.headers, answer.text, withUsage(reportNow(state), metered));
  }
  // The provider refused or failed the call: nothing was billed, so nothing is counted.
  await nothing(answer.status, modelUsed);
  return readAnswer(answer.status, answer.headers, answer.text, reportNow(state));
}

/**
 * Creates the policy engine that the embedded client and the gateway share. Rules are loaded and
 * checked here, so a malformed rules file fails at startup (a `TokenlayRulesError`), never later.
 *
 * One call through {@link Engine.handle} passes these stages, one file each:
 * - decide (`decide.ts`): rules pick a rule and a model; a blocking rule is refused at once;
 * - admit (`admission.ts`): one request, one concurrent slot and the estimated tokens and cost are
 *   reserved on every limit's counter, atomically, and `on_limit_exceeded` applies when one is full;
 * - forward (`forward.ts`): to the provider without `x-tokenlay-*` headers, `then.fallbacks` tried
 *   in order on 5xx, timeout or connection failure;
 * - meter (`meter.ts`): usage from the JSON body or the SSE stream (streamed chat calls ask for
 *   `include_usage`, and the chunk is removed when the caller did not ask), estimated when absent, priced;
 * - settle (`settle.ts`): the reservation is replaced by the usage (released when nothing was
 *   billed) and the ledger row written, once, on every path;
 * - answer (`answer.ts`): PROTOCOL.md §2 headers, the `: x-tokenlay {json}` trailer of a stream, or a typed refusal rendered.
 *
 * @throws {TokenlayRulesError} when the rules are malformed; an Error for a bad store spec or price override.
 */
export function createEngine(config: EngineConfig = {}): Engine {
  const doc = config.rules === undefined ? undefined : loadRules(config.rules);
  const store = createStore(config.store);
  if (config.store === undefined && !process.env.TOKENLAY_STORE && doc?.rules.some((r) => r.then.limits?.length)) warnMemoryBudgets();
  const ownsStore = typeof config.store !== 'object';
  const now = config.now ?? Date.now;
  const alerts = doc && hasAlerts(doc) ? createAlerts(doc, store, { now, ...config.alerts }) : undefined;
  // Store writes still in flight, so that flush() and close() wait for them.
  const pending = new Set<Promise<unknown>>();
  const ctx: EngineContext = {
    doc,
    store,
    now,
    leaseMs: config.leaseMs ?? 60_000,
    providerTimeoutMs: config.providerTimeoutMs ?? 600_000,
    fetch: config.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init)),
    pricer: createPricer({ overrides: { ...docPrices(doc), ...config.prices }, unknownModel: config.unknownModels ?? doc?.unknown_models ?? 'zero' }),
    readouts: doc ? usageReadouts(doc) : [],
    // Rows arrive once the counters are settled, so an alert reads what this call has just moved.
    onLedger: alerts
      ? (row) => {
          alerts.observe(row);
          config.onLedger?.(row);
        }
      : config.onLedger,
    track(p) {
      const tracked = p.catch(() => {}).finally(() => pending.delete(tracked));
      pending.add(tracked);
    },
  };
  let closed = false;

  async function flush(): Promise<void> {
    while (pending.size > 0) await Promise.all([...pending]);
    await store.flush();
  }

  let closing: Promise<void> | undefined;
  return {
    async handle(call) {
      if (closed) throw new Error('tokenlay: the policy engine was closed; create a new client or engine.');
      call.signal?.throwIfAborted();
      return run(ctx, call);
    },
    store,
    alerts,
    flush,
    close() {
      closed = true;
      closing ??= flush()
        .then(() => alerts?.close())
        .then(() => (ownsStore ? store.close() : undefined));
      return closing;
    },
  };
}
