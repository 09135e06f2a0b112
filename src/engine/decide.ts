/** The decide stage: who is calling, which rule applies, which model, and whether to refuse at once. */
import { TokenlayHeaderError } from '../errors.js';
import { modelInPath } from '../metering/index.js';
import { evaluateRules, matchContext, type Decision } from '../policy/evaluate.js';
import { withCallOverrides } from './overrides.js';
import { checkModelName, modelRequired } from '../policy/model.js';
import { fieldsToHeaders, headersToFields } from '../protocol/headers.js';
import { blankReport } from '../protocol/report.js';
import { RUN_BUDGET_HEADER } from '../protocol/names.js';
import { parseRunBudgets } from '../protocol/run-budget.js';
import type { Estimate } from './admission.js';
import { endpointOf, formModel, parseJsonBody } from './body.js';
import type { CallState } from './call.js';
import type { EngineContext } from './context.js';
import { providerBase } from './forward.js';
import { NO_USAGE } from './meter.js';
import { readUsage } from './readouts.js';
import { callEstimate } from './reservation.js';
import type { Refusal } from './refusal.js';
import type { EngineCall } from './types.js';

export type Decided = { ok: true; state: CallState } | { ok: false; refusal: Refusal; state: CallState | undefined };

/** The limits of docs/protocol.md §1 (256 characters a value, 8 KiB in all), as a proxy enforces them. */
function checkFieldLimits(fields: Record<string, string | undefined>): TokenlayHeaderError | undefined {
  try {
    fieldsToHeaders(fields);
    return undefined;
  } catch (err) {
    if (err instanceof TokenlayHeaderError) return err;
    throw err;
  }
}

function cleanFields(fields: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}

/** What a call may spend at most sent to `model`, or to any of the rule's fallbacks after it. */
export function estimateFor(ctx: EngineContext, state: CallState, model: string | undefined): Estimate {
  if (!state.body || model === undefined) return { tokens: 0, cost: 0 };
  return callEstimate(ctx, state, [model, ...state.decision.fallbacks.filter((f) => f !== model)]);
}

/**
 * Reads the call's fields and body, applies the rules, and refuses what needs no counter to
 * refuse: attribution over the protocol's limits, a model name that is not one (before anything
 * else), a blocking rule, a call no rule routes to a model, an unpriced model when those are
 * refused. The tokenizer runs only when a counter needs tokens or cost ahead of the call.
 */
export async function decide(ctx: EngineContext, call: EngineCall): Promise<Decided> {
  const started = performance.now();
  const startedAt = ctx.now();
  const endpoint = endpointOf(call.url);
  const hint = providerBase(call.url);
  const fields = headersToFields(call.headers, { bare: true });
  const oversized = checkFieldLimits(fields);
  if (oversized) return { ok: false, refusal: { kind: 'bad-attribution', error: oversized }, state: undefined };
  const runs = parseRunBudgets(call.headers.get(RUN_BUDGET_HEADER));
  if ('problem' in runs) {
    return { ok: false, refusal: { kind: 'bad-run-budget', message: `tokenlay: ${RUN_BUDGET_HEADER} cannot be read: ${runs.problem}. Give runWithTokenlay({ budget: { cost: 0.5 } }, fn) a positive cost (USD), tokens or requests.` }, state: undefined };
  }
  const body = parseJsonBody(call.body);
  const badModel = checkModelName(body?.model);
  if (badModel) return { ok: false, refusal: { kind: 'bad-model', problem: badModel }, state: undefined };
  // Gemini's own API names the model in the path, not the body.
  const pathModel = typeof body?.model === 'string' ? undefined : modelInPath(endpoint);
  // A multipart call (transcription) names its model in a form field.
  const requestedModel = typeof body?.model === 'string' ? body.model : (pathModel ?? (body ? undefined : formModel(call.body)));
  const usage = ctx.readouts.length > 0 ? await readUsage(ctx.store, ctx.readouts, fields.user, startedAt) : undefined;
  const matched: Decision = ctx.doc
    ? evaluateRules(ctx.doc, { fields, model: requestedModel, endpoint, usage }, startedAt)
    : { rule: null, action: 'allow', model: requestedModel, modelChanged: false, params: undefined, limits: [], fallbacks: [], context: matchContext({ fields, model: requestedModel, endpoint }) };
  const decision = withCallOverrides(matched, ctx.overrides?.view(), ctx.doc, startedAt);
  const rule = decision.rule;
  const report = blankReport();
  report.ruleId = rule?.id ?? null;
  const state: CallState = {
    started,
    startedAt,
    endpoint,
    hint,
    fields: cleanFields(fields),
    body,
    requestedModel,
    pathModel,
    decision,
    rule,
    model: decision.model,
    estimate: { tokens: 0, cost: 0 },
    report,
    action: 'allow',
    runs: runs.runs,
  };

  if (rule && decision.action === 'block') return { ok: false, refusal: { kind: 'rule-block', rule }, state };
  const noModel = body ? modelRequired(endpoint, state.model, rule) : undefined;
  if (noModel) return { ok: false, refusal: { kind: 'bad-model', problem: noModel }, state };
  if (rule && decision.action === 'warn') {
    report.warnings.push(`rule "${rule.id}" flags this call${rule.description ? `: ${rule.description}` : ''}`);
  }
  if (state.model !== undefined && body) {
    const priced = ctx.pricer.price(state.model, NO_USAGE, hint);
    if (!priced.known) return { ok: false, refusal: { kind: 'model-not-priced', message: `tokenlay: ${priced.warning}` }, state };
  }
  const spends = (type: string) => type === 'tokens' || type === 'cost' || type === 'credits';
  const needsEstimate =
    (rule?.then.limits ?? []).some((l) => spends(l.type)) || ctx.readouts.some((r) => spends(r.metric)) || runs.runs.some((r) => r.cost !== undefined || r.tokens !== undefined);
  if (needsEstimate) state.estimate = estimateFor(ctx, state, state.model);
  return { ok: true, state };
}
