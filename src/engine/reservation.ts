/**
 * What a call reserves at admission: the most it can cost on any model it may be sent to, and,
 * when a cost or token cap has less room than that, the lower output limit that makes it fit.
 */
import { callShape, fittingOutput, pricedShape, type CallShape, type ReservationOptions } from '../metering/index.js';
import type { Clamp, Estimate } from './admission.js';
import { describeLimit } from './describe.js';
import { providerBody, type JsonBody } from './body.js';
import type { CallState } from './call.js';
import type { EngineContext } from './context.js';

/**
 * The fewest output tokens (one choice) a call is clamped to: below this no answer is worth
 * sending, and `on_limit_exceeded` applies. 16 is the least OpenAI's Responses API accepts as
 * `max_output_tokens`. A call that asks for fewer itself keeps its own limit.
 */
export const SHORT_ANSWER_TOKENS = 16;

/** The body a model is sent, before the engine's stream options: what its reservation is priced on. */
function bodyFor(state: CallState, model: string): JsonBody {
  return providerBody(state.body!, state.decision.params, model, false);
}

/**
 * The reservation of a call that may be sent to `models` (the rule's model, then its fallbacks):
 * the largest tokens and cost among them, so that a fallback cannot pass the cap either. Its
 * `within` finds, for a smaller room, the output limit of each model that fits it.
 */
export function callEstimate(ctx: EngineContext, state: CallState, models: readonly string[]): Estimate {
  if (!state.body || models.length === 0) return { tokens: 0, cost: 0 };
  const opts: ReservationOptions = { endpoint: state.endpoint, providerHint: state.hint };
  // The prompt is read once per model; clamping only re-prices.
  const shapes = models.map((model) => ({ model, shape: callShape(model, bodyFor(state, model), ctx.pricer, opts) }));
  /** The largest reservation among the models, each model's choices writing at most `perChoice(…)` tokens; undefined when one cannot. */
  const largest = (perChoice: (model: string, shape: CallShape) => number | undefined): Estimate | undefined => {
    const e: Estimate = { tokens: 0, cost: 0, within };
    for (const { model, shape } of shapes) {
      const limit = perChoice(model, shape);
      if (limit === undefined) return undefined;
      // A map only for a clamped call: the calls that fit, nearly all, need none.
      if (limit < shape.perChoice) (e.outputLimits ??= new Map()).set(model, limit);
      const r = pricedShape(model, shape, limit, ctx.pricer, opts);
      e.tokens = Math.max(e.tokens, r.tokens);
      e.cost = Math.max(e.cost, r.cost);
      e.inputTokens = Math.max(e.inputTokens ?? 0, r.inputTokens);
    }
    return e;
  };
  function within(room: { tokens?: number; cost?: number }): Estimate | undefined {
    return largest((model, shape) => fittingOutput(model, shape, ctx.pricer, room, SHORT_ANSWER_TOKENS, opts));
  }
  return largest(ownLimit)!;
}

/** A model's own output limit for the call, unclamped. */
const ownLimit = (_: string, shape: CallShape) => shape.perChoice;

const OUTPUT_LIMIT_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const;

/** The output-limit field an endpoint reads when the call sets none. */
export function outputLimitField(endpoint: string, model: string): string {
  if (/\/responses$/.test(endpoint)) return 'max_output_tokens';
  // OpenAI's reasoning models refuse max_tokens on chat completions; every other reads it.
  const name = model.toLowerCase().slice(model.lastIndexOf('/') + 1);
  if (/\/chat\/completions$/.test(endpoint) && /^(o\d|gpt-5|codex)/.test(name)) return 'max_completion_tokens';
  return 'max_tokens';
}

/**
 * The body sent with the engine's output limit written in, when admission clamped the call: into
 * each limit field the call set (lowered, never raised), else into the one its endpoint reads
 * (Gemini's own API: `generationConfig.maxOutputTokens`).
 */
export function withOutputLimit(endpoint: string, body: JsonBody, model: string | undefined, estimate: Estimate): JsonBody {
  const limit = model === undefined ? undefined : estimate.outputLimits?.get(model);
  if (limit === undefined) return body;
  // Gemini's own API reads its limit from generationConfig.
  if (/:(stream)?generateContent$/i.test(endpoint) || typeof body.generationConfig === 'object') {
    const config = (body.generationConfig ?? {}) as JsonBody;
    const had = config.maxOutputTokens;
    return { ...body, generationConfig: { ...config, maxOutputTokens: typeof had === 'number' ? Math.min(had, limit) : limit } };
  }
  const out: JsonBody = { ...body };
  let written = false;
  for (const field of OUTPUT_LIMIT_FIELDS) {
    if (out[field] === undefined || out[field] === null) continue;
    out[field] = typeof out[field] === 'number' ? Math.min(out[field], limit) : limit;
    written = true;
  }
  if (!written) out[outputLimitField(endpoint, model!)] = limit;
  return out;
}

/**
 * What the call's report says when admission lowered the output limit of the model it was sent
 * to: the limit (the report's `outputLimit`, `x-tokenlay-output-limit`) and a warning naming the
 * field, the rule and its room. Undefined when that model was not clamped.
 */
export function clampNote(state: CallState, clamp: Clamp, model: string | undefined): { outputLimit: number; warning: string } | undefined {
  const limit = model === undefined ? undefined : state.estimate.outputLimits?.get(model);
  if (limit === undefined || !state.body) return undefined;
  const sent = withOutputLimit(state.endpoint, providerBody(state.body, state.decision.params, model, false), model, state.estimate);
  const gemini = (sent.generationConfig as JsonBody | undefined)?.maxOutputTokens === limit;
  const field = gemini ? 'generationConfig.maxOutputTokens' : (OUTPUT_LIMIT_FIELDS.find((f) => sent[f] === limit) ?? outputLimitField(state.endpoint, model!));
  const { limit: l, room } = clamp;
  return { outputLimit: limit, warning: `rule "${state.rule?.id}": ${field} lowered to ${limit} so that this call cannot pass ${describeLimit(l, l.limit.max - room)}` };
}
