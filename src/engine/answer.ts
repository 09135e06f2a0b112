/**
 * The answer stage: the only place where the engine builds an HTTP response. Refusals, provider
 * failures and metered answers all leave the engine through here, with docs/protocol.md §2 headers.
 */
import { secondsUntil } from '../policy/windows.js';
import { STORE_UNAVAILABLE_CODE } from '../store/unavailable.js';
import type { ResolvedLimit } from '../policy/limits.js';
import type { OnLimitExceeded, Rule } from '../policy/types.js';
import { errorAnswer } from '../protocol/error-body.js';
import { REQUEST_ID_HEADER, RUN_BUDGET_HEADER, SHOULD_RETRY_HEADER } from '../protocol/names.js';
import { writeReportHeaders, type CallReport } from '../protocol/report.js';
import { describeLimit } from './describe.js';
import type { Refusal } from './refusal.js';

export type { CallReport };

// Headers that describe the provider's bytes, which the engine re-frames.
const FRAMING_HEADERS = ['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive'];

/**
 * The provider's headers without its framing or any `x-tokenlay-*` of its own, ready for the engine's report. An answer always carries
 * an `x-request-id` (the provider's, or `tokenlay-<uuid>` when it sent none): the OpenAI SDK stamps
 * it on the parsed body as `_request_id`, so every answer can be named when reporting a problem.
 */
export function answerHeaders(from: Headers): Headers {
  const headers = new Headers(from);
  for (const name of FRAMING_HEADERS) headers.delete(name);
  // The report is the engine's alone: a provider's x-tokenlay-* headers would speak for it.
  for (const name of [...headers.keys()]) if (name.startsWith('x-tokenlay-')) headers.delete(name);
  if (!headers.has(REQUEST_ID_HEADER)) headers.set(REQUEST_ID_HEADER, `tokenlay-${globalThis.crypto.randomUUID()}`);
  return headers;
}

/** A short limit cannot last: the SDK may retry it. A cap with a long window must not be retried. */
function isShortThrottle(l: ResolvedLimit, on: OnLimitExceeded | undefined): boolean {
  return on?.retry_after_seconds !== undefined || l.limit.window === 'minute' || l.limit.type === 'concurrent';
}

/** The command that tops up a credits balance, from its scope (`user=alice`). */
function topUp(scope: string): string {
  const at = scope.indexOf('=');
  return `tokenlay credits add --${scope.slice(0, at)} ${scope.slice(at + 1)} --usd AMOUNT`;
}

/**
 * The answer to a call refused by a limit (docs/protocol.md §3): 429 or the rule's `http_status`;
 * `retry-after` from `retry_after_seconds` or the window's reset; `x-should-retry: false`
 * unless the limit is a short throttle (a minute window, a concurrency limit, or an explicit
 * `retry_after_seconds`).
 */
function limitAnswer(refusal: Extract<Refusal, { kind: 'limit' }>, report: CallReport): Response {
  if (refusal.limit.run !== undefined) return runAnswer(refusal, report);
  const { rule, limit, current, now } = refusal;
  const on = rule.then.on_limit_exceeded;
  const extra: Record<string, string> = {};
  let retryAfter: number | undefined;
  if (on?.retry_after_seconds !== undefined) retryAfter = Math.ceil(on.retry_after_seconds);
  else if (limit.resetsAt !== null) retryAfter = secondsUntil(limit.resetsAt, now);
  if (retryAfter !== undefined) extra['retry-after'] = String(retryAfter);
  if (!isShortThrottle(limit, on)) extra[SHOULD_RETRY_HEADER] = 'false';
  const resetsAt = limit.resetsAt === null ? undefined : new Date(limit.resetsAt).toISOString().replace('.000Z', 'Z');
  const message =
    on?.error_message ??
    `tokenlay: rule "${rule.id}" allows ${describeLimit(limit, current)}.` +
      (resetsAt ? ` The window resets at ${resetsAt}.` : '') +
      (retryAfter !== undefined ? ` Retry after ${retryAfter} s.` : '') +
      (limit.limit.type === 'credits' ? ` Add credits with: ${topUp(limit.scope)} (or engine.credits.add(), POST /v1/admin/credits).` : '');
  return errorAnswer(
    on?.http_status ?? 429,
    {
      message,
      type: 'tokenlay_limit_exceeded',
      code: on?.error_code ?? 'limit_exceeded',
      tokenlay: {
        rule_id: rule.id,
        limit: {
          type: limit.limit.type,
          window: limit.limit.type === 'concurrent' ? 'total' : limit.limit.window,
          per: limit.limit.per.length === 1 ? limit.limit.per[0] : limit.limit.per,
          scope: limit.scope,
          max: limit.limit.max,
          current,
          ...(resetsAt ? { resets_at: resetsAt } : {}),
        },
      },
    },
    refusalReport(refusal, report),
    extra,
  );
}

/**
 * The answer to a call past its run's budget: 429 with `limit.type` `run` (the unit in `metric`),
 * never retried (a run's budget does not free with time).
 */
function runAnswer(refusal: Extract<Refusal, { kind: 'limit' }>, report: CallReport): Response {
  const { limit, current } = refusal;
  const type = limit.limit.type;
  const shown = (v: number) => (type === 'cost' ? `$${Number(v.toFixed(6))}` : `${v} ${type}`);
  return errorAnswer(
    429,
    {
      message: `tokenlay: run ${limit.run} has a budget of ${shown(limit.limit.max)} for all its calls together; ${shown(current)} is used or held by calls in flight, and this call could pass it. Raise the run's budget or end the run.`,
      type: 'tokenlay_limit_exceeded',
      code: 'run_budget_exceeded',
      tokenlay: { rule_id: null, limit: { type: 'run', metric: type, window: 'run', per: 'run', scope: limit.scope, max: limit.limit.max, current } },
    },
    { ...report, ruleAction: 'block', limitExceeded: true },
    { [SHOULD_RETRY_HEADER]: 'false' },
  );
}

/** The answer to a call that a rule blocks outright (`then.action: block`): 403 unless the rule says. */
function ruleBlockAnswer(rule: Rule, report: CallReport): Response {
  // `report` is already the refusal's (refusalReport).
  const on = rule.then.on_limit_exceeded;
  return errorAnswer(
    on?.http_status ?? 403,
    {
      message: on?.error_message ?? `tokenlay: rule "${rule.id}"${rule.description ? ` (${rule.description})` : ''} blocks this call.`,
      type: 'tokenlay_blocked',
      code: on?.error_code ?? 'blocked_by_rule',
      tokenlay: { rule_id: rule.id },
    },
    report,
    { [SHOULD_RETRY_HEADER]: 'false' },
  );
}

/** The report a refusal's answer carries: a block says so, a limit's block also that a limit was exceeded. */
export function refusalReport(refusal: Refusal, report: CallReport): CallReport {
  if (refusal.kind === 'rule-block') return { ...report, ruleAction: 'block' };
  if (refusal.kind === 'limit') return { ...report, ruleAction: refusal.ruleAction, limitExceeded: true };
  return report;
}

/** Renders a refusal of any stage; `report` is the call's, before {@link refusalReport}. */
export function refusalAnswer(refusal: Refusal, report: CallReport): Response {
  switch (refusal.kind) {
    case 'bad-attribution':
      return errorAnswer(
        400,
        { message: refusal.error.message, type: 'invalid_request_error', code: 'invalid_attribution_header', param: refusal.error.field },
        report,
        { [SHOULD_RETRY_HEADER]: 'false' },
      );
    case 'bad-run-budget':
      return errorAnswer(400, { message: refusal.message, type: 'invalid_request_error', code: 'invalid_run_budget', param: RUN_BUDGET_HEADER }, report, {
        [SHOULD_RETRY_HEADER]: 'false',
      });
    case 'rule-block':
      return ruleBlockAnswer(refusal.rule, refusalReport(refusal, report));
    case 'bad-model':
      return errorAnswer(400, { ...refusal.problem, type: 'invalid_request_error' }, report, { [SHOULD_RETRY_HEADER]: 'false' });
    case 'model-not-priced':
      return errorAnswer(400, { message: refusal.message, type: 'invalid_request_error', code: 'model_not_priced', param: 'model' }, report, {
        [SHOULD_RETRY_HEADER]: 'false',
      });
    case 'limit':
      return limitAnswer(refusal, report);
    case 'store-unavailable':
      return errorAnswer(
        503,
        {
          message: `tokenlay: the usage store is unavailable (${refusal.detail}), so the call was not sent to the provider and nothing was spent. Retry shortly; if it lasts, check the store.`,
          type: STORE_UNAVAILABLE_CODE,
          code: 'store_unavailable',
        },
        report,
        { 'retry-after': '1' },
      );
  }
}

/** The answer when no model's provider answered: 504 on a timeout, else 502. */
export function providerFailureAnswer(args: { timeout: boolean; hint: string; detail: string; models: Array<string | undefined> }, report: CallReport): Response {
  const { timeout, hint, detail, models } = args;
  return errorAnswer(
    timeout ? 504 : 502,
    {
      message: `tokenlay: the provider at ${hint} ${timeout ? 'did not answer in time' : 'could not be reached'} (${detail})${models.length > 1 ? ` with any of the models ${models.join(', ')}` : ''}. Check providerApiBase and that the provider is up.`,
      type: 'tokenlay_provider_error',
      code: timeout ? 'provider_timeout' : 'provider_unreachable',
    },
    report,
  );
}

/**
 * The answer when the provider's 2xx answer broke off: 502 `provider_answer_cut_off`, with the
 * report's headers (the call is charged as an estimate). It is not sent again by tokenlay: the
 * provider has billed it.
 */
export function providerCutAnswer(args: { hint: string; status: number; detail: string }, report: CallReport): Response {
  return errorAnswer(
    502,
    {
      message: `tokenlay: the provider at ${args.hint} answered ${args.status}, but its body was cut off (${args.detail}). The provider has billed the call, so tokenlay did not send it again; it is charged as an estimate. Send it again if you need its answer.`,
      type: 'tokenlay_provider_error',
      code: 'provider_answer_cut_off',
    },
    report,
  );
}

/** A read provider answer (metered 2xx, or a provider error passed through), with the report's headers. */
export function readAnswer(status: number, providerHeaders: Headers, body: string | Uint8Array<ArrayBuffer>, report: CallReport): Response {
  const headers = answerHeaders(providerHeaders);
  writeReportHeaders(headers, report);
  return new Response(body, { status, headers });
}

/** A streamed answer: the rule's outcome in headers, usage in the stream's trailer. */
export function streamAnswer(status: number, providerHeaders: Headers, body: ReadableStream<Uint8Array>, report: CallReport): Response {
  const headers = answerHeaders(providerHeaders);
  writeReportHeaders(headers, report, false);
  return new Response(body, { status, headers });
}
