import type { PlanPrice } from './plans.js';

/**
 * The shape of a rules document in the `@tokenlay/rules` 0.1 format (docs/protocol.md §5), after
 * {@link validateRules} has checked it and filled in defaults.
 */

/**
 * What a limit counts. `credits` draws a prepaid balance (USD, granted with `tokenlay credits add`)
 * down instead of a window: its `max` is the balance granted so far.
 */
export type LimitType = 'requests' | 'tokens' | 'cost' | 'concurrent' | 'credits';

/**
 * A fixed window aligned to UTC (`total` never resets), or a rolling one: `last_<n>h` (the last n
 * hours, counted by the hour, n up to 168) or `last_<n>d` (the last n days, counted by the day, n up to 90).
 */
export type WindowName = 'minute' | 'hour' | 'day' | 'month' | 'year' | 'total' | `last_${number}h` | `last_${number}d`;

/** What a matching rule does when no limit is exceeded. */
export type RuleActionName = 'allow' | 'block' | 'warn' | 'queue';

/** What happens to a call that would exceed a limit. */
export type LimitActionName = 'block' | 'downgrade' | 'warn' | 'queue';

/** A scalar a condition compares against. */
export type Scalar = string | number | boolean | null;

/** Comparison operators; several in one object must all hold. */
export interface Comparison {
  gt?: number | string;
  gte?: number | string;
  lt?: number | string;
  lte?: number | string;
  eq?: Scalar;
  neq?: Scalar;
  in?: Scalar[];
  nin?: Scalar[];
  contains?: string | number | boolean;
  startsWith?: string;
  endsWith?: string;
}

/**
 * A condition: every entry must hold. Keys are dotted paths into the call's context (a field,
 * `model`, `endpoint`, `usage.cost`, …) mapped to a plain value (equality) or a {@link Comparison};
 * the keys `and`, `or` and `not` combine nested conditions.
 */
export interface Condition {
  and?: Condition[];
  or?: Condition[];
  not?: Condition;
  [path: string]: Scalar | Comparison | Condition | Condition[] | undefined;
}

/** One limit of a rule, counted per distinct value of the `per` field(s). */
export interface Limit {
  type: LimitType;
  max: number;
  window: WindowName;
  /** Canonical field names (aliases folded) whose values key the counter. */
  per: string[];
  /** A field or dotted path whose value keys the counter instead of `per`'s own field. */
  tracking_key?: string;
  /**
   * Fractions of `max` (0 < x < 1, ascending) from which answers carry a warning; each crossing
   * sends the rule's `notify` webhooks once per window. The file may give one number or a list.
   */
  warn_at?: number | number[];
  /**
   * Where a `month` or `year` window starts instead of the 1st: a fixed date `YYYY-MM-DD` (every
   * user's month runs from that day), or the name of a field whose value is each user's own date
   * (`billing_anchor: billing_date`, the app setting `billing_date: '2026-11-17'` in the scope).
   */
  billing_anchor?: string;
  /**
   * @internal Set by overrides on a `credits` limit: the account whose balance the call draws
   * (the call's own, or `''` for a balance granted for no account). Not part of the rules file.
   */
  balance_account?: string;
}

/** A webhook, email or Slack notice; accepted for compatibility, not sent by this engine. */
export interface Notification {
  type: 'webhook' | 'email' | 'slack';
  url?: string;
  email?: string;
  channel?: string;
  payload?: Record<string, unknown>;
}

/** What to do with a call that would exceed one of the rule's limits. */
export interface OnLimitExceeded {
  action: LimitActionName;
  /** The model a downgraded call is answered from (required for `downgrade`). */
  downgrade_to?: string;
  /** How long a queued call may wait for the window to free (default 30). */
  delay_seconds?: number;
  /** `retry-after` for a blocked call; a short throttle, so the SDK may retry. */
  retry_after_seconds?: number;
  notify?: Notification[];
  error_code?: string;
  error_message?: string;
  /** Status of a blocked answer (default 429). */
  http_status?: number;
  /** Default `warn_at` for those of the rule's limits that set none. */
  warn_at?: number | number[];
}

/** What a matching rule does to the call. */
export interface RuleThen {
  /** The model the call is routed to (it replaces the model the caller asked for). */
  model?: string;
  /** Request parameters set on the body; they win over the caller's. */
  model_params?: Record<string, unknown>;
  action?: RuleActionName;
  priority_modifier?: number;
  limits?: Limit[];
  on_limit_exceeded?: OnLimitExceeded;
  /** Models tried in order when the provider answers 5xx, times out or cannot be reached. */
  fallbacks?: string[];
  custom_fields?: Record<string, unknown>;
}

/** One rule; `id` is `rule-<index>` when the file gives none. */
export interface Rule {
  id: string;
  description?: string;
  priority: number;
  if: Condition;
  then: RuleThen;
}

/** A price override in USD per million tokens. */
export interface PriceOverride {
  input: number;
  output: number;
  /** Cached input tokens; input price when absent. */
  cached_input?: number;
}

/** Defaults that fill in what a rule leaves out. */
export interface RuleDefaults {
  on_limit_exceeded?: OnLimitExceeded;
  fallbacks?: string[];
  warn_at?: number | number[];
}

/** A validated rules document. */
export interface RulesDocument {
  version: string;
  /** Custom field names the rules use, declared (an extension of `@tokenlay/rules`). */
  fields?: string[];
  rules: Rule[];
  /** Prices that win over the maintained price table, by model name. */
  prices?: Record<string, PriceOverride>;
  /** `zero` (default): an unpriced model costs 0 with a warning; `refuse`: it is answered 400. */
  unknown_models?: 'zero' | 'refuse';
  defaults?: RuleDefaults;
  metadata?: Record<string, unknown>;
  /** What each plan earns (the `plans:` extension), for margins; see `checkPlans`. */
  plans?: Record<string, PlanPrice>;
  /** Where the document was read from, for error messages. */
  source?: string;
}
