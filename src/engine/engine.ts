import { TokenlayHeaderError } from '../errors.js';
import { fieldsToHeaders, headersToFields } from '../headers.js';
import { createPricer, reservationEstimate, type MeteredUsage } from '../metering/index.js';
import { evaluateRules, type Decision } from '../policy/evaluate.js';
import { loadRules } from '../policy/load.js';
import { resolveLimits } from '../policy/limits.js';
import { usageReadouts } from '../policy/usage.js';
import type { RulesDocument } from '../policy/types.js';
import { createStore } from '../store/index.js';
import { isStoreUnavailable, STORE_UNAVAILABLE_CODE } from '../store/unavailable.js';
import type { LedgerRow } from '../store/types.js';
import { admit, type Estimate } from './admission.js';
import { errorAnswer, ruleBlockAnswer, setReportHeaders, type CallReport } from './answers.js';
import { callerAskedForUsage, endpointOf, isStreamedChat, parseJsonBody, providerBody, type JsonBody } from './body.js';
import { forward, providerBase, providerHeaders } from './forward.js';
import { answerHeaders, meterJson, meterStream, NO_USAGE, type MeterContext } from './meter.js';
import { readoutChecks, readUsage } from './readouts.js';
import type { Engine, EngineCall, EngineConfig, ModelPrice } from './types.js';


function docPrices(doc: RulesDocument | undefined): Record<string, ModelPrice> {
  const out: Record<string, ModelPrice> = {};
  for (const [model, p] of Object.entries(doc?.prices ?? {})) {
    out[model] = p.cached_input === undefined ? { input: p.input, output: p.output } : { input: p.input, output: p.output, cachedInput: p.cached_input };
  }
  return out;
}

/** The limits of PROTOCOL.md §1 (256 characters a value, 8 KiB in all), as a proxy enforces them. */
function checkFieldLimits(fields: Record<string, string | undefined>): TokenlayHeaderError | undefined {
  try {
    fieldsToHeaders(fields);
    return undefined;
  } catch (err) {
    if (err instanceof TokenlayHeaderError) return err;
    throw err;
  }
}

/**
 * The answer while the counter store cannot be reached under policy `closed`: limits cannot be
 * checked, so the call is refused rather than let past a hard cap. The SDK may retry it.
 */
function storeUnavailable(err: unknown, report: CallReport): Response {
  return errorAnswer(
    503,
    { message: (err as Error).message, type: STORE_UNAVAILABLE_CODE, code: STORE_UNAVAILABLE_CODE },
    report,
    { 'retry-after': '1' },
  );
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

function cleanFields(fields: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Creates the policy engine that the embedded client and the gateway share. Rules are loaded and
 * checked here, so a malformed rules file fails at startup (a `TokenlayRulesError`), never later.
 *
 * One call through {@link Engine.handle}: rules pick a rule and a model → a blocking rule answers at
 * once → admission reserves one request, one concurrent slot and the estimated tokens and cost on
 * every limit's counter, atomically, and applies `on_limit_exceeded` when a counter is full → the
 * call goes to the provider without `x-tokenlay-*` headers, with `then.fallbacks` tried in order
 * on 5xx, timeout or connection failure → usage is metered from the JSON body or the SSE stream
 * (streamed chat calls ask for `include_usage`, and the chunk is removed when the caller did not
 * ask) → it is priced, the reservation is settled with it (released when nothing was billed), and
 * a ledger row is written → the answer carries the PROTOCOL.md §2 headers, or for a stream the
 * `: x-tokenlay {json}` trailer before `data: [DONE]`.
 *
 * @throws {TokenlayRulesError} when the rules are malformed; an Error for a bad store spec or price override.
 */
export function createEngine(config: EngineConfig = {}): Engine {
  const doc = config.rules === undefined ? undefined : loadRules(config.rules);
  const store = createStore({ store: config.store, ledger: config.ledger, onStoreError: config.onStoreError, spoolPath: config.ledgerSpoolPath });
  if (config.store === undefined && !process.env.TOKENLAY_STORE && doc?.rules.some((r) => r.then.limits?.length)) warnMemoryBudgets();
  // What createStore opened is ours to close; a store object passed in is the caller's.
  const ownsStore = store !== config.store;
  const now = config.now ?? Date.now;
  const leaseMs = config.leaseMs ?? 60_000;
  const timeoutMs = config.providerTimeoutMs ?? 600_000;
  const fetchImpl = config.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const pricer = createPricer({ overrides: { ...docPrices(doc), ...config.prices }, unknownModel: config.unknownModels ?? doc?.unknown_models ?? 'zero' });
  const readouts = doc ? usageReadouts(doc) : [];
  // Settlements still being written, so that close() waits for them.
  const pending = new Set<Promise<unknown>>();
  let closed = false;

  function track(p: Promise<unknown>): void {
    const tracked = p.catch(() => {}).finally(() => pending.delete(tracked));
    pending.add(tracked);
  }

  function ledger(row: LedgerRow): void {
    store.record(row);
    config.onLedger?.(row);
  }

  async function handle(call: EngineCall): Promise<Response> {
    if (closed) throw new Error('tokenlay: the policy engine was closed; create a new client or engine.');
    call.signal?.throwIfAborted();
    const started = performance.now();
    const startedAt = now();
    const endpoint = endpointOf(call.url);
    const hint = providerBase(call.url);
    const fields = headersToFields(call.headers, { bare: true });
    const oversized = checkFieldLimits(fields);
    if (oversized) {
      const blank: CallReport = { ruleId: null, ruleAction: 'allow', limitExceeded: false, cost: 0, inputTokens: 0, outputTokens: 0, durationMs: 0, warnings: [] };
      return errorAnswer(400, { message: oversized.message, type: 'invalid_request_error', code: 'invalid_attribution_header', param: oversized.field }, blank, { 'x-should-retry': 'false' });
    }
    const body = parseJsonBody(call.body);
    const requestedModel = typeof body?.model === 'string' ? body.model : undefined;
    let usage: Record<string, unknown> | undefined;
    // Answered once the ledger row can be written, below.
    let storeDown: unknown;
    try {
      usage = readouts.length > 0 ? await readUsage(store, readouts, fields.user, startedAt) : undefined;
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      storeDown = err;
    }
    const decision: Decision = doc
      ? evaluateRules(doc, { fields, model: requestedModel, endpoint, usage }, startedAt)
      : { rule: null, action: 'allow', model: requestedModel, modelChanged: false, params: undefined, limits: [], fallbacks: [], context: {} };
    const rule = decision.rule;
    const report: CallReport = {
      ruleId: rule?.id ?? null,
      ruleAction: 'allow',
      limitExceeded: false,
      cost: 0,
      inputTokens: 0,
      outputTokens: 0,
      durationMs: 0,
      warnings: [],
    };
    const snapshot = (): CallReport => ({ ...report, durationMs: performance.now() - started });
    let model = decision.model;
    let action: string = 'allow';

    const row = (status: number, used: MeteredUsage, cost: number, modelUsed: string | undefined): LedgerRow => ({
      time: startedAt,
      fields: cleanFields(fields),
      modelRequested: requestedModel ?? null,
      modelUsed: modelUsed ?? null,
      endpoint,
      inputTokens: used.inputTokens,
      outputTokens: used.outputTokens,
      cachedTokens: used.cachedTokens,
      cost,
      ruleId: rule?.id ?? null,
      action,
      status,
      latencyMs: Math.round(performance.now() - started),
      estimated: used.estimated,
    });
    const refuse = (response: Response, how: string): Response => {
      action = how;
      ledger(row(response.status, NO_USAGE, 0, undefined));
      return response;
    };

    if (storeDown !== undefined) return refuse(storeUnavailable(storeDown, snapshot()), 'refuse');
    if (rule && decision.action === 'block') {
      return refuse(ruleBlockAnswer(rule, { ...snapshot(), ruleAction: 'block' }), 'block');
    }
    if (rule && decision.action === 'warn') {
      report.warnings.push(`rule "${rule.id}" flags this call${rule.description ? `: ${rule.description}` : ''}`);
    }
    let priceWarning: string | undefined;
    if (model !== undefined && body) {
      const priced = pricer.price(model, NO_USAGE, hint);
      priceWarning = priced.warning;
      if (!priced.known) {
        return refuse(
          errorAnswer(400, { message: `tokenlay: ${priced.warning}`, type: 'invalid_request_error', code: 'model_not_priced', param: 'model' }, snapshot(), { 'x-should-retry': 'false' }),
          'refuse',
        );
      }
    }

    const estimateFor = (m: string | undefined): Estimate => {
      if (!body || m === undefined) return { tokens: 0, cost: 0 };
      const { tokens, cost } = reservationEstimate(m, providerBody(body, decision.params, m, false), pricer, { endpoint, providerHint: hint });
      return { tokens, cost };
    };
    // The tokenizer runs only when a counter needs tokens or cost ahead of the call.
    const spends = (type: string) => type === 'tokens' || type === 'cost';
    const needsEstimate = (rule?.then.limits ?? []).some((l) => spends(l.type)) || readouts.some((r) => spends(r.metric));
    const estimate = needsEstimate ? estimateFor(model) : { tokens: 0, cost: 0 };
    let admission: Awaited<ReturnType<typeof admit>>;
    try {
      admission = await admit({
      store,
      rule,
      ruleAction: decision.action,
      limitsAt: (t) => (rule ? resolveLimits(rule, decision.context, t) : []),
      // Settlement replaces every reservation with the actual usage, so one estimate serves all.
      trackingAt: (t) => readoutChecks(readouts, fields.user, t, estimate),
      estimate,
      estimateFor,
      now,
      leaseMs,
      signal: call.signal,
      report: snapshot,
    });
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      return refuse(storeUnavailable(err, snapshot()), 'refuse');
    }
    if (!admission.ok) return refuse(admission.response, admission.response.headers.get('x-tokenlay-rule-action') ?? 'block');
    report.ruleAction = admission.ruleAction;
    report.limitExceeded = admission.limitExceeded;
    report.warnings.push(...admission.warnings);
    action = admission.downgradeTo ? 'downgrade' : admission.ruleAction;
    if (admission.downgradeTo) {
      model = admission.downgradeTo;
      priceWarning = body ? pricer.price(model, NO_USAGE, hint).warning : undefined;
    }
    if (priceWarning) report.warnings.push(priceWarning);

    const reservation = admission.reservationId;
    // Long calls and streams keep their reservation alive; a crashed process stops renewing it.
    const renew =
      reservation === null ? undefined : setInterval(() => void store.renew(reservation, { now: now(), leaseMs }).catch(() => {}), Math.max(1000, leaseMs / 2));
    renew?.unref();
    let done = false;
    const finish = (used: MeteredUsage | undefined, cost: number): Promise<void> => {
      if (done) return Promise.resolve();
      done = true;
      clearInterval(renew);
      if (reservation === null) return Promise.resolve();
      const p = used ? store.settle(reservation, { requests: 1, tokens: used.inputTokens + used.outputTokens, cost }) : store.release(reservation);
      track(p);
      return p;
    };

    const askUsage = isStreamedChat(endpoint, body) && !callerAskedForUsage(body);
    const sentBody = (m: string | undefined): JsonBody | undefined => (body ? providerBody(body, decision.params, m, askUsage) : undefined);
    const models = body ? [model, ...decision.fallbacks.filter((f) => f !== model)] : [undefined];
    let result: Awaited<ReturnType<typeof forward>>;
    try {
      result = await forward({
        url: call.url,
        method: call.method,
        headers: providerHeaders(call.headers),
        bodyFor: (m) => (body ? JSON.stringify(sentBody(m)) : call.body),
        models,
        signal: call.signal,
        timeoutMs,
        fetch: fetchImpl,
      });
    } catch (err) {
      await finish(undefined, 0);
      throw err;
    }
    const { answer, failures } = result;
    report.warnings.push(...failures);
    const modelUsed = answer.model ?? model;
    if (modelUsed !== requestedModel && modelUsed !== undefined) report.model = modelUsed;

    if (answer.kind === 'failed') {
      await finish(undefined, 0);
      const timeout = answer.reason === 'timeout';
      const response = errorAnswer(
        timeout ? 504 : 502,
        {
          message: `tokenlay: the provider at ${hint} ${timeout ? 'did not answer in time' : 'could not be reached'} (${answer.detail})${models.length > 1 ? ` with any of the models ${models.join(', ')}` : ''}. Check providerApiBase and that the provider is up.`,
          type: 'tokenlay_provider_error',
          code: timeout ? 'provider_timeout' : 'provider_unreachable',
        },
        snapshot(),
      );
      ledger(row(response.status, NO_USAGE, 0, modelUsed));
      return response;
    }

    const meter: MeterContext = {
      endpoint,
      pricer,
      providerHint: hint,
      model: modelUsed,
      sentBody: sentBody(modelUsed),
      report: snapshot,
      settle: (used, cost) => finish(used, cost),
      record: (status, used, cost, m) => ledger(row(status, used, cost, m)),
    };
    if (answer.kind === 'stream') return meterStream(meter, answer.response, askUsage);
    if (answer.status >= 200 && answer.status < 300) return meterJson(meter, answer.status, answer.headers, answer.text);
    // The provider refused or failed the call: nothing was billed, so nothing is counted.
    await finish(undefined, 0);
    const headers = answerHeaders(answer.headers);
    setReportHeaders(headers, snapshot());
    ledger(row(answer.status, NO_USAGE, 0, modelUsed));
    return new Response(answer.text, { status: answer.status, headers });
  }

  async function flush(): Promise<void> {
    while (pending.size > 0) await Promise.all([...pending]);
    await store.flush();
  }

  let closing: Promise<void> | undefined;
  return {
    handle,
    store,
    flush,
    close() {
      closed = true;
      closing ??= flush().then(() => (ownsStore ? store.close() : undefined));
      return closing;
    },
  };
}
