/**
 * Every header name and marker of the wire contract (docs/protocol.md), spelled once. The SDK, the
 * engine and the gateway import them from here.
 */

/** The prefix of every tokenlay header: attribution fields (§1) and the report (§2). */
export const HEADER_PREFIX = 'x-tokenlay-';

/** §1: the provider's API key, for the proxy to forward with. */
export const PROVIDER_KEY_HEADER = 'x-tokenlay-provider-key';
/** §1: the provider's base URL. */
export const PROVIDER_BASE_HEADER = 'x-tokenlay-provider-base';

/**
 * §1 (ext): the caps of the runs a call belongs to (`runWithTokenlay({ budget })`), one entry per
 * run, innermost last: `<run id>;cost=0.5;tokens=20000, <run id>;requests=10`. See `run-budget.ts`.
 */
export const RUN_BUDGET_HEADER = 'x-tokenlay-run-budget';

/** §2: the per-call report, one header per field. */
export const REPORT_HEADERS = {
  ruleId: 'x-tokenlay-rule-id',
  ruleAction: 'x-tokenlay-rule-action',
  limitExceeded: 'x-tokenlay-limit-exceeded',
  cost: 'x-tokenlay-cost',
  tokensUsed: 'x-tokenlay-tokens-used',
  inputTokens: 'x-tokenlay-input-tokens',
  outputTokens: 'x-tokenlay-output-tokens',
  duration: 'x-tokenlay-duration',
  warnings: 'x-tokenlay-warnings',
  model: 'x-tokenlay-model',
  outputLimit: 'x-tokenlay-output-limit',
  /** (ext) What is left of the call's tightest limit after it, in that limit's unit (USD for cost). */
  budgetRemaining: 'x-tokenlay-budget-remaining',
  /** (ext) Which limit `budgetRemaining` speaks of: `<type>/<window>`, e.g. `cost/month`, `run/run`. */
  budgetLimit: 'x-tokenlay-budget-limit',
} as const;

/** §2: the SSE comment line that carries a stream's report, followed by its JSON. */
export const TRAILER_PREFIX = ': x-tokenlay ';

/** §3: tells the OpenAI SDK not to retry an answer. */
export const SHOULD_RETRY_HEADER = 'x-should-retry';
/** The answer's id; the OpenAI SDK exposes it as `_request_id` on the parsed body. Every engine answer carries one. */
export const REQUEST_ID_HEADER = 'x-request-id';
