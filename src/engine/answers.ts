import { secondsUntil } from '../policy/windows.js';
import type { ResolvedLimit } from '../policy/limits.js';
import type { OnLimitExceeded, Rule } from '../policy/types.js';

/** What the engine reports about a call, as PROTOCOL.md §2 headers and the SSE trailer. */
export interface CallReport {
  ruleId: string | null;
  ruleAction: 'allow' | 'block' | 'warn' | 'queue';
  limitExceeded: boolean;
  cost: number;
  inputTokens: number;
  outputTokens: number;
  durationMs: number;
  warnings: string[];
  /** Set when a rule, downgrade or fallback changed the model. */
  model?: string | undefined;
}

/** A decimal without exponent, e.g. `0.0000015`, so every reader parses it. */
export function formatDecimal(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return '0';
  return value.toFixed(12).replace(/\.?0+$/, '');
}

/** Writes a report as `x-tokenlay-*` headers (PROTOCOL.md §2); usage headers only when `withUsage`. */
export function setReportHeaders(headers: Headers, report: CallReport, withUsage = true): void {
  if (report.ruleId !== null) headers.set('x-tokenlay-rule-id', report.ruleId);
  headers.set('x-tokenlay-rule-action', report.ruleAction);
  headers.set('x-tokenlay-limit-exceeded', String(report.limitExceeded));
  if (withUsage) {
    headers.set('x-tokenlay-cost', formatDecimal(report.cost));
    headers.set('x-tokenlay-tokens-used', String(report.inputTokens + report.outputTokens));
    headers.set('x-tokenlay-input-tokens', String(report.inputTokens));
    headers.set('x-tokenlay-output-tokens', String(report.outputTokens));
  }
  headers.set('x-tokenlay-duration', String(Math.round(report.durationMs)));
  if (report.warnings.length > 0) headers.set('x-tokenlay-warnings', JSON.stringify(report.warnings));
  if (report.model !== undefined) headers.set('x-tokenlay-model', report.model);
}

/** The report as the `: x-tokenlay {json}` SSE trailer's snake_case object (PROTOCOL.md §2). */
export function reportTrailer(report: CallReport): Record<string, unknown> {
  const trailer: Record<string, unknown> = {
    rule_id: report.ruleId,
    rule_action: report.ruleAction,
    limit_exceeded: report.limitExceeded,
    cost: Number(formatDecimal(report.cost)),
    tokens_used: report.inputTokens + report.outputTokens,
    input_tokens: report.inputTokens,
    output_tokens: report.outputTokens,
    duration: Math.round(report.durationMs),
    warnings: report.warnings,
  };
  if (report.model !== undefined) trailer.model = report.model;
  return trailer;
}

/** An OpenAI-style error answer, so that every OpenAI client surfaces it as an API error. */
export function errorAnswer(
  status: number,
  error: { message: string; type: string; code: string | null; param?: string | null; tokenlay?: unknown },
  report: CallReport,
  extra: Record<string, string> = {},
): Response {
  const headers = new Headers({ 'content-type': 'application/json', ...extra });
  setReportHeaders(headers, report);
  return new Response(JSON.stringify({ error: { param: null, ...error } }), { status, headers });
}

function unit(type: string, max: number): string {
  if (type === 'cost') return `$${max}`;
  if (type === 'concurrent') return `${max} concurrent calls`;
  return `${max} ${type}`;
}

function perText(l: ResolvedLimit): string {
  if (l.limit.type === 'concurrent') return `per ${l.limit.per.join(' and ')}`;
  const every = l.limit.window === 'total' ? 'in total' : `per ${l.limit.window}`;
  return `${every} per ${l.limit.per.join(' and ')}`;
}

/** A short limit cannot last: the SDK may retry it. A cap with a long window must not be retried. */
function isShortThrottle(l: ResolvedLimit, on: OnLimitExceeded | undefined): boolean {
  return on?.retry_after_seconds !== undefined || l.limit.window === 'minute' || l.limit.type === 'concurrent';
}

/** Describes the limit for humans, e.g. `$50 per month per user (user=alice: 50.02 used)`. */
export function describeLimit(l: ResolvedLimit, current: number): string {
  const shown = l.limit.type === 'cost' ? current.toFixed(4).replace(/\.?0+$/, '') : String(current);
  return `${unit(l.limit.type, l.limit.max)} ${perText(l)} (${l.scope}: ${shown} ${l.limit.type === 'concurrent' ? 'in flight' : 'used'})`;
}

/**
 * The answer to a call refused by a limit (PROTOCOL.md §3): 429 or the rule's `http_status`;
 * `retry-after` from `retry_after_seconds` or the window's reset; `x-should-retry: false`
 * unless the limit is a short throttle (a minute window, a concurrency limit, or an explicit
 * `retry_after_seconds`).
 */
export function limitAnswer(args: {
  rule: Rule;
  limit: ResolvedLimit;
  current: number;
  now: number;
  report: CallReport;
}): Response {
  const { rule, limit, current, now, report } = args;
  const on = rule.then.on_limit_exceeded;
  const extra: Record<string, string> = {};
  let retryAfter: number | undefined;
  if (on?.retry_after_seconds !== undefined) retryAfter = Math.ceil(on.retry_after_seconds);
  else if (limit.resetsAt !== null) retryAfter = secondsUntil(limit.resetsAt, now);
  if (retryAfter !== undefined) extra['retry-after'] = String(retryAfter);
  if (!isShortThrottle(limit, on)) extra['x-should-retry'] = 'false';
  const resetsAt = limit.resetsAt === null ? undefined : new Date(limit.resetsAt).toISOString().replace('.000Z', 'Z');
  const message =
    on?.error_message ??
    `tokenlay: rule "${rule.id}" allows ${describeLimit(limit, current)}.` +
      (resetsAt ? ` The window resets at ${resetsAt}.` : '') +
      (retryAfter !== undefined ? ` Retry after ${retryAfter} s.` : '');
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
    report,
    extra,
  );
}

/** The answer to a call that a rule blocks outright (`then.action: block`): 403 unless the rule says. */
export function ruleBlockAnswer(rule: Rule, report: CallReport): Response {
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
    { 'x-should-retry': 'false' },
  );
}
