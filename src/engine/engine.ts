import { createAlerts, hasAlerts } from '../alerts/notifier.js';
import { createPricer, withModelInPath } from '../metering/index.js';
import { loadRules } from '../policy/load.js';
import { resolveLimits } from '../policy/limits.js';
import { usageReadouts } from '../policy/usage.js';
import type { RulesDocument } from '../policy/types.js';
import { blankReport, type CallReport } from '../protocol/report.js';
import { createStore } from '../store/index.js';
import { admit } from './admission.js';
import { answerHeaders, providerCutAnswer, providerFailureAnswer, readAnswer, refusalAnswer, refusalReport, streamAnswer } from './answer.js';
import { callerAskedForUsage, isStreamedChat, providerBody, type JsonBody } from './body.js';
import { reportNow, type CallState } from './call.js';
import { closeOnExit } from './close-on-exit.js';
import { durationOption } from './config.js';
import type { EngineContext } from './context.js';
import { decide, estimateFor, type Decided } from './decide.js';
import { forward, providerHeaders } from './forward.js';
import { untilCallerLeaves } from './caller-leaves.js';
import { cancelWhenIdle } from './idle.js';
import { inFlightCalls, type InFlightCall } from './in-flight.js';
import { holderLostRow } from './lost-row.js';
import { meterAbandoned, meterCut, meterJson, meterLeftStream, meterStream, NO_USAGE, withUsage, type MeterContext } from './meter.js';
import { readoutChecks } from './readouts.js';
import { refusalAction, type Refusal } from './refusal.js';
import { reportClamp, withOutputLimit } from './reservation.js';
import { reportAfterAnswer } from './report-error.js';
import { openSettlement } from './settle.js';
import { runLimits } from './run-limits.js';
import { readBudget, tightest, userBudget } from './budget.js';
import { creditsApi } from './credits.js';
import { limitsApi } from './limits-api.js';
import { liveOverrides, OVERRIDES_POLL_MS } from './overrides.js';
import { openOverrideStore } from '../store/overrides-open.js';
import { counterRebuilder } from './rebuild-counters.js';
import type { CounterRebuilder } from '../store/redis-data-loss.js';
import { isStoreFault } from './store-fault.js';
import type { Engine, EngineCall, EngineConfig, ModelPrice } from './types.js';

function docPrices(doc: RulesDocument | undefined): Record<string, ModelPrice> {
  const out: Record<string, ModelPrice> = {};
  for (const [model, p] of Object.entries(doc?.prices ?? {})) {
    out[model] = p.cached_input === undefined ? { input: p.input, output: p.output } : { input: p.input, output: p.output, cachedInput: p.cached_input };
  }
  return out;
}

let warnedMemory = false;

/** How long the first calls wait for the first read of the overrides (ms). */
const OVERRIDES_FIRST_READ_MS = 2000;

let overridesFaults = 0;
/** A failed read of the override store: the last overrides stay in force; said once per engine's first few faults. */
function reportOverridesFault(error: unknown): void {
  if (overridesFaults++ < 3) process.emitWarning(`tokenlay: cannot read limit overrides and credits (${(error as Error)?.message ?? String(error)}); the last ones read stay in force and the read is retried every second.`);
}

/** Limits on the default memory store reset with the process: say so once, with the fix. */
function warnMemoryBudgets(): void {
  if (warnedMemory) return;
  warnedMemory = true;
  process.emitWarning(
    "tokenlay: usage limits are counted in memory (no store option), so they reset when the process restarts. Pass store: 'sqlite:./.tokenlay/usage.db' (or set TOKENLAY_STORE) to keep them.",
  );
}

/** Hands an in-process caller the report its answer carries (docs/protocol.md §2), as an object. */
function reported(call: EngineCall, report: CallReport): CallReport {
  call.reportTo?.onReport(report);
  return report;
}

/** A refusal answered, and recorded in the ledger when the call got as far as a rule. */
function refuse(ctx: EngineContext, call: EngineCall, refusal: Refusal, state: CallState | undefined): Response {
  const report = state ? reportNow(state) : blankReport();
  call.reportTo?.onReport(refusalReport(refusal, report));
  const response = refusalAnswer(refusal, report);
  if (!state) return response;
  state.action = refusalAction(refusal);
  void openSettlement(ctx, state, null).settle({ status: response.status, usage: NO_USAGE, cost: 0, model: undefined, billed: false });
  return response;
}

/** The ledger status of a call whose caller went away (nginx's 499 "client closed request"). */
const CLIENT_CLOSED = 499;

/** One call through the stages: decide → admit → forward → meter → settle → answer. */
async function run(ctx: EngineContext, call: EngineCall, flight: InFlightCall): Promise<Response> {
  let decided: Decided;
  try {
    decided = await decide(ctx, call);
  } catch (error) {
    if (!isStoreFault(error)) throw error;
    return refuse(ctx, call, { kind: 'store-unavailable', detail: (error as Error).message }, undefined);
  }
  if (!decided.ok) return refuse(ctx, call, decided.refusal, decided.state);
  const { state } = decided;
  const { rule, decision, body } = state;

  let admission: Awaited<ReturnType<typeof admit>>;
  try {
    admission = await admit({
    store: ctx.store,
    rule,
    ruleAction: decision.action,
    limitsAt: (t) => [...(rule ? resolveLimits(rule, decision.context, t) : []), ...runLimits(state.runs, state.fields.account, t)],
    // Settlement replaces every reservation with the actual usage, so one estimate serves all.
    trackingAt: (t, estimate) => readoutChecks(ctx.readouts, state.fields.user, t, estimate),
    estimate: state.estimate,
    estimateFor: (m) => estimateFor(ctx, state, m),
    now: ctx.now,
    leaseMs: ctx.leaseMs,
    signal: call.signal,
    lostRow: (e) => holderLostRow(state, e),
  });
  } catch (error) {
    // Nothing was spent: the caller may retry once the store is back.
    if (!isStoreFault(error) || call.signal?.aborted) throw error;
    return refuse(ctx, call, { kind: 'store-unavailable', detail: (error as Error).message }, undefined);
  }
  if (!admission.ok) return refuse(ctx, call, admission.refusal, state);
  const { report } = state;
  report.ruleAction = admission.ruleAction;
  report.limitExceeded = admission.limitExceeded;
  report.warnings.push(...admission.warnings);
  state.action = admission.downgradeTo ? 'downgrade' : admission.ruleAction;
  if (admission.downgradeTo) state.model = admission.downgradeTo;
  state.estimate = admission.estimate;

  const askUsage = isStreamedChat(state.endpoint, body) && !callerAskedForUsage(body);
  // A model named in the path (Gemini) stays there: Gemini refuses a body with a model field.
  const sentBody = (m: string | undefined): JsonBody | undefined =>
    body ? withOutputLimit(state.endpoint, providerBody(body, decision.params, state.pathModel === undefined ? m : undefined, askUsage), m, state.estimate) : undefined;
  const settlement = openSettlement(ctx, state, admission.reservationId, () => flight.finish());
  // Ends the provider call when the call is cut off, whoever still waits for it.
  const stop = new AbortController();
  const meterFor = (model: string | undefined): MeterContext => ({ endpoint: state.endpoint, pricer: ctx.pricer, providerHint: state.hint, model, sentBody: sentBody(model) });
  // Shutdown cuts a call off as a caller who went away would: the provider may bill all it asked for.
  flight.cutOff = () => {
    stop.abort(new Error('tokenlay: the call was cut off by shutdown'));
    const metered = meterAbandoned(meterFor(state.model), 'cut off');
    return settlement.settle({ status: CLIENT_CLOSED, usage: metered.used, cost: metered.cost, model: metered.model, billed: true });
  };
  // A caller who left is recorded as such, whatever the provider then answered.
  const left = () => call.signal?.aborted === true;
  const statusOf = (status: number) => (left() ? CLIENT_CLOSED : status);
  const nothing = (status: number, model: string | undefined, reached: boolean) =>
    settlement.settle({ status: statusOf(status), usage: NO_USAGE, cost: 0, model, billed: false, reached });

  const models = body ? [state.model, ...decision.fallbacks.filter((f) => f !== state.model)] : [undefined];
  let result: Awaited<ReturnType<typeof forward>>;
  try {
    result = await forward({
      url: call.url,
      // A model named in the path (Gemini) is routed by rewriting the path.
      urlFor: state.pathModel === undefined ? undefined : (m) => (m === undefined ? call.url : withModelInPath(call.url, m)),
      method: call.method,
      headers: providerHeaders(call.headers, call.url),
      bodyFor: (m) => (body ? JSON.stringify(sentBody(m)) : call.body),
      models,
      signal: call.signal,
      // A stream the caller leaves is given up from its first byte (the provider stops it); a JSON call is read to its end.
      abandonOnAbort: body?.stream === true,
      stop: stop.signal,
      timeoutMs: ctx.providerTimeoutMs,
      fetch: ctx.fetch,
    });
  } catch (err) {
    // Not sent: the caller left while the call was being prepared.
    await nothing(CLIENT_CLOSED, state.model, false);
    throw err;
  }
  const { answer, failures, reached } = result;
  if (answer.kind === 'aborted') {
    const metered = meterAbandoned(meterFor(answer.model), 'cut off');
    await settlement.settle({ status: CLIENT_CLOSED, usage: metered.used, cost: metered.cost, model: metered.model, billed: true });
    throw answer.reason;
  }
  report.warnings.push(...failures);
  const modelUsed = answer.model ?? state.model;
  if (modelUsed !== state.requestedModel && modelUsed !== undefined) report.model = modelUsed;
  if (admission.clamp) reportClamp(state, admission.clamp, answer.model);

  if (answer.kind === 'failed') {
    const response = providerFailureAnswer({ timeout: answer.reason === 'timeout', hint: state.hint, detail: answer.detail, models }, reported(call, reportNow(state)));
    await nothing(response.status, modelUsed, reached);
    return response;
  }

  // From here on the provider has answered: nothing tokenlay does may fail the call or make the
  // SDK send it again. Faults are reported once and the provider's answer goes out.
  const meter = meterFor(modelUsed);
  if (answer.kind === 'cut') {
    const metered = afterAnswer('metering the answer', () => meterCut(meter, answer.text, answer.declaredBytes, answer.detail), () => meterAbandoned(meter, 'body cut off'));
    const response = afterAnswer(
      'the answer headers',
      () => providerCutAnswer({ hint: state.hint, status: answer.status, detail: answer.detail }, reported(call, withUsage(reportNow(state), metered))),
      () => new Response(answer.text, { status: 502, headers: answerHeaders(answer.headers) }),
    );
    await settledOrLater(settlement.settle({ status: statusOf(response.status), usage: metered.used, cost: metered.cost, model: metered.model, billed: true }));
    return response;
  }
  // What is left after this call, for x-tokenlay-budget-remaining: read once the call is settled
  // (a JSON answer), or with its reservation still held (a stream's headers go out first).
  const limitsNow = () => [...(rule ? resolveLimits(rule, decision.context, ctx.now()) : []), ...runLimits(state.runs, state.fields.account, ctx.now())];
  const budgetLeft = async () => {
    const limits = limitsNow();
    if (limits.length === 0) return;
    try {
      report.budget = tightest(await readBudget(ctx.store, limits, rule?.id ?? null, ctx.now()));
    } catch (error) {
      reportAfterAnswer('reading the budget left failed after the provider answered; the answer goes out without it', error);
    }
  };
  if (answer.kind === 'stream') {
    const { status, headers } = answer.response;
    await budgetLeft();
    if (left()) {
      // The caller left before the first byte: the stream is given up, and the provider stops it.
      await answer.response.body?.cancel().catch(() => undefined);
      const metered = afterAnswer('metering the answer', () => meterLeftStream(meter), () => meterAbandoned(meter, 'caller left'));
      await settlement.settle({ status: CLIENT_CLOSED, usage: metered.used, cost: metered.cost, model: metered.model, billed: true });
      throw call.signal!.reason;
    }
    const stream = meterStream(meter, answer.response.body!, {
      stripUsageChunk: askUsage,
      report: () => reportNow(state),
      onEnd: (m, { cutOff }) => {
        // A stream that stopped before its end event (Anthropic's message_stop) was cut off.
        void settlement.settle({ status: cutOff ? CLIENT_CLOSED : status, usage: m.used, cost: m.cost, model: m.model, billed: true });
        if (call.reportTo) afterAnswer('reporting the settled stream', () => call.reportTo!.onSettled(withUsage(reportNow(state), m)), () => undefined);
      },
    });
    const idle = cancelWhenIdle(stream, ctx.streamIdleTimeout);
    return afterAnswer('the answer headers', () => streamAnswer(status, headers, idle, reported(call, reportNow(state))), () => new Response(idle, { status, headers: answerHeaders(headers) }));
  }
  if (answer.status >= 200 && answer.status < 300) {
    const metered = afterAnswer('metering the answer', () => meterJson(meter, answer.text, isJsonType(answer.headers)), () => meterAbandoned(meter));
    // A store that could not settle in time (locked, slow) is not read again for the budget: the answer goes out without it.
    if (await settledOrLater(settlement.settle({ status: statusOf(answer.status), usage: metered.used, cost: metered.cost, model: metered.model, billed: true }))) await budgetLeft();
    return afterAnswer(
      'the answer headers',
      () => readAnswer(answer.status, answer.headers, answer.bytes, reported(call, withUsage(reportNow(state), metered))),
      () => new Response(answer.bytes, { status: answer.status, headers: answerHeaders(answer.headers) }),
    );
  }
  // The provider refused or failed the call: nothing was billed, but the call reached it, which
  // requests limits count.
  await nothing(answer.status, modelUsed, true);
  return afterAnswer(
    'the answer headers',
    () => readAnswer(answer.status, answer.headers, answer.bytes, reported(call, reportNow(state))),
    () => new Response(answer.bytes, { status: answer.status, headers: answerHeaders(answer.headers) }),
  );
}

/** Whether an answer's content type says JSON. */
function isJsonType(headers: Headers): boolean {
  return /\bjson\b/i.test(headers.get('content-type') ?? '');
}

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

/** Runs a step after the provider answered; when it throws, reports it once and uses `fallback`. */
function afterAnswer<T>(what: string, step: () => T, fallback: () => T): T {
  try {
    return step();
  } catch (error) {
    reportAfterAnswer(`${what} failed after the provider answered; the answer goes out without it`, error);
    return fallback();
  }
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
 * - answer (`answer.ts`): docs/protocol.md §2 headers, the `: x-tokenlay {json}` trailer of a stream, or a typed refusal rendered.
 *
 * @throws {TokenlayRulesError} when the rules are malformed; an Error for a bad store spec or price override;
 *   a TypeError for a duration option that is not a positive number of ms.
 */
export function createEngine(config: EngineConfig = {}): Engine {
  const doc = config.rules === undefined ? undefined : loadRules(config.rules, { customFields: config.customFields });
  const store = createStore({ store: config.store, ledger: config.ledger, onStoreError: config.onStoreError, spoolPath: config.ledgerSpoolPath });
  if (config.store === undefined && !process.env.TOKENLAY_STORE && doc?.rules.some((r) => r.then.limits?.length)) warnMemoryBudgets();
  // What createStore opened is ours to close; a store object passed in is the caller's.
  const ownsStore = store !== config.store;
  const now = config.now ?? Date.now;
  const alerts = doc && hasAlerts(doc) ? createAlerts(doc, store, { now, ...config.alerts }) : undefined;
  const ownsOverrides = config.overrides === undefined;
  const overrides = liveOverrides(
    config.overrides ?? openOverrideStore({ store: config.store ?? (process.env.TOKENLAY_STORE || undefined), ledger: config.ledger ?? (process.env.TOKENLAY_LEDGER || undefined) }),
    durationOption(config, 'overridesPollMs', OVERRIDES_POLL_MS),
    (error) => reportOverridesFault(error),
  );
  // Store writes still in flight, so that flush() and close() wait for them.
  const pending = new Set<Promise<unknown>>();
  const ctx: EngineContext = {
    doc,
    store,
    now,
    leaseMs: durationOption(config, 'leaseMs', 60_000),
    providerTimeoutMs: durationOption(config, 'providerTimeoutMs', 600_000),
    streamIdleTimeout: durationOption(config, 'streamIdleTimeout', 60_000),
    settleRetryMs: durationOption(config, 'settleRetryMs', 60_000),
    fetch: config.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init)),
    pricer: createPricer({ overrides: { ...docPrices(doc), ...config.prices }, unknownModel: config.unknownModels ?? doc?.unknown_models ?? 'zero' }),
    readouts: doc ? usageReadouts(doc) : [],
    overrides,
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
  // A counter store that can lose its data (Redis) rebuilds it from this engine's rules and ledger.
  (store as { watchDataLoss?: (rebuilder: CounterRebuilder) => void }).watchDataLoss?.(counterRebuilder(ctx));
  const closeTimeout = durationOption(config, 'closeTimeout', 30_000);
  const calls = inFlightCalls();
  let closed = false;

  async function flush(): Promise<void> {
    while (pending.size > 0) await Promise.all([...pending]);
    await store.flush();
  }

  let overridesRead = false;
  const firstRead = Promise.race([
    overrides.ready,
    new Promise<void>((resolve) => {
      setTimeout(resolve, OVERRIDES_FIRST_READ_MS).unref();
    }),
  ]);
  let closing: Promise<void> | undefined;
  let uninstall: (() => void) | undefined;
  const engine: Engine = {
    async handle(call) {
      if (closed) throw new Error('tokenlay: the policy engine was closed; create a new client or engine.');
      call.signal?.throwIfAborted();
      // The first calls wait for the first read of the overrides, so none misses one set before start.
      // An unreachable database holds them back 2 s at most: then they run on the rules file alone
      // until a poll succeeds.
      if (!overridesRead) {
        await firstRead;
        overridesRead = true;
      }
      const flight = calls.open();
      const running = (async () => {
        try {
          const response = await run(ctx, call, flight);
          // Refusals and read answers are settled by now; a stream finishes when it is settled.
          if (!flight.cutOff) flight.finish();
          return response;
        } catch (error) {
          // Every exit settles. The stages settle the throws they expect (a caller who left); one
          // they do not (a fault of ours after admission) is settled here as a call cut off, so its
          // reservation never outlives it. A settled call is not settled again.
          if (flight.cutOff) await flight.cutOff().catch(() => undefined);
          flight.finish();
          throw error;
        }
      })();
      return call.signal ? untilCallerLeaves(running, call.signal, ctx.track) : running;
    },
    store,
    alerts,
    budget(fields, runs = []) {
      return userBudget(ctx.doc, store, fields, runs, ctx.now());
    },
    limits: limitsApi(overrides, now),
    overrides: overrides.store,
    credits: creditsApi(overrides, store, store, now),
    forAccount: (account) => ({ limits: limitsApi(overrides, now, account), credits: creditsApi(overrides, store, store, now, account) }),
    flush,
    close() {
      closed = true;
      closing ??= (async () => {
        uninstall?.();
        await calls.drain(closeTimeout);
        // Rows the ledger cannot take now (PostgreSQL down) stay in its spool; the store is closed
        // all the same, or its open connection would keep the process alive.
        try {
          await flush();
        } finally {
          await alerts?.close();
          overrides.close();
          if (ownsOverrides) await overrides.store.close();
          if (ownsStore) await store.close();
        }
      })();
      return closing;
    },
  };
  if (config.closeOnExit === true) uninstall = closeOnExit(() => engine.close());
  return engine;
}
