import type { Rule } from './types.js';

/** Longest model name, in characters, that a call may name (longer is a 400 `invalid_model`). */
export const MAX_MODEL_NAME_CHARS = 256;

/** Why a call's model cannot be used, as the fields of an OpenAI-style 400 error body. */
export interface ModelProblem {
  code: 'invalid_model' | 'model_required';
  message: string;
  param: 'model';
}

/**
 * The model a call goes to before any limit applies: the model the call names, as asked; for a
 * call that names none, the matched rule's `then.model`; else none. Enforcement may still change
 * it later (`on_limit_exceeded.action: downgrade`, `fallbacks`).
 */
export function routeModel(callModel: string | undefined, rule: Rule | null): string | undefined {
  return callModel ?? rule?.then.model;
}

function preview(value: string): string {
  return JSON.stringify(value.slice(0, 40)) + (value.length > 40 ? '…' : '');
}

/**
 * Checks the `model` of a JSON body before anything else reads it: absent is fine (a rule may
 * route it), a string of 1 to 256 characters is fine; anything else is an `invalid_model`. Long
 * names are refused rather than priced: each distinct name is a price-table search and a cache
 * entry.
 */
export function checkModelName(model: unknown): ModelProblem | undefined {
  if (model === undefined || model === null) return undefined;
  if (typeof model !== 'string') {
    return { code: 'invalid_model', param: 'model', message: `tokenlay: model must be a string such as "gpt-4o-mini", got ${Array.isArray(model) ? 'an array' : typeof model}. Pass the model's name, or leave model out to let a rule route the call.` };
  }
  if (model.length === 0 || model.length > MAX_MODEL_NAME_CHARS) {
    const what = model.length === 0 ? 'is empty' : `is ${model.length} characters long (${preview(model)})`;
    return { code: 'invalid_model', param: 'model', message: `tokenlay: the model name ${what}; a model name has 1 to ${MAX_MODEL_NAME_CHARS} characters. Pass the provider's model name, e.g. "gpt-4o-mini".` };
  }
  return undefined;
}

// The OpenAI endpoints whose calls cannot be made without a model.
const NEEDS_MODEL = /\/(chat\/completions|completions|embeddings|responses)$/;

/**
 * The `model_required` problem of a call that names no model and that no rule routes, or
 * undefined when the call has a model or its endpoint needs none (files, models, uploads).
 */
export function modelRequired(endpoint: string, model: string | undefined, rule: Rule | null): ModelProblem | undefined {
  if (model !== undefined || !NEEDS_MODEL.test(endpoint)) return undefined;
  const matched = rule ? `Rule "${rule.id}" matched the call but sets no then.model. ` : 'No rule matched the call. ';
  return {
    code: 'model_required',
    param: 'model',
    message:
      `tokenlay: the call to ${endpoint} names no model and no rule routes it. ${matched}` +
      'Pass model in the call (e.g. model: "gpt-4o-mini"), or route calls without one with a rule such as ' +
      '{ id: "default-model", if: {}, then: { model: "gpt-4o-mini" } } (priority below your other rules).',
  };
}
