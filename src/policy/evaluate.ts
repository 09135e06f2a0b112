import { resolveLimits, type ResolvedLimit } from './limits.js';
import { matchCondition, type MatchContext } from './match.js';
import { routeModel } from './model.js';
import type { Rule, RuleActionName, RulesDocument } from './types.js';
import type { FieldRecord } from '../protocol/fields.js';

/** What the rules see of a call. */
export interface CallFacts {
  /** Attribution fields by canonical name. */
  fields: FieldRecord;
  /** The model the caller asked for, if any. */
  model?: string | undefined;
  /** The OpenAI REST path, e.g. `/v1/chat/completions`. */
  endpoint: string;
  /** Usage read-outs, see {@link usageReadouts}. */
  usage?: Record<string, unknown>;
}

/** What the rules decided for one call, before any limit is checked. */
export interface Decision {
  /** The first matching rule, or null when none matched (the call is allowed, unlimited). */
  rule: Rule | null;
  /** The rule's `then.action`, `allow` by default. */
  action: RuleActionName;
  /** The model the call goes to: the caller's when it names one, else the rule's `model`, else none. */
  model: string | undefined;
  /** Whether the rule routed a call that named no model (reported as `x-tokenlay-model`). */
  modelChanged: boolean;
  /** Request parameters the rule sets; they win over the caller's. */
  params: Record<string, unknown> | undefined;
  /** The rule's limits, resolved to this call's counters. */
  limits: ResolvedLimit[];
  /** Models to try in order when the provider fails. */
  fallbacks: string[];
  /** The context conditions were matched against (fields, model, endpoint, usage). */
  context: MatchContext;
}

const ordered = new WeakMap<RulesDocument, Rule[]>();

/** Rules by priority, higher first; equal priorities keep file order (the sort is stable). */
export function rulesInOrder(doc: RulesDocument): Rule[] {
  let rules = ordered.get(doc);
  if (!rules) {
    rules = [...doc.rules].sort((a, b) => b.priority - a.priority);
    ordered.set(doc, rules);
  }
  return rules;
}

/** The context conditions match against; `model` and `endpoint` win over fields of those names. */
export function matchContext(facts: CallFacts): MatchContext {
  return { ...facts.fields, model: facts.model, endpoint: facts.endpoint, usage: facts.usage ?? {} };
}

/**
 * Picks the rule for a call: higher `priority` first, then file order; the first rule whose
 * `if` holds applies and no other. A model the call names is used as asked; the rule's `model`
 * routes only a call that names none (see {@link routeModel}), as the hosted product does.
 * `model_params` are set on the body over the caller's values. Limits are resolved to counters
 * for `now`.
 */
export function evaluateRules(doc: RulesDocument, facts: CallFacts, now: number): Decision {
  const context = matchContext(facts);
  for (const rule of rulesInOrder(doc)) {
    if (!matchCondition(rule.if, context)) continue;
    const model = routeModel(facts.model, rule);
    return {
      rule,
      action: rule.then.action ?? 'allow',
      model,
      modelChanged: model !== facts.model,
      params: rule.then.model_params,
      limits: resolveLimits(rule, context, now),
      fallbacks: rule.then.fallbacks ?? [],
      context,
    };
  }
  return { rule: null, action: 'allow', model: facts.model, modelChanged: false, params: undefined, limits: [], fallbacks: [], context };
}
