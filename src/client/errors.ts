import { APIError, RateLimitError } from 'openai';

import type { TokenlayLimit } from '../errors.js';
import { decodedHeaderOf, headerOf, type HeaderBag } from '../protocol/header-bag.js';
import { isLimitError, kLimitError } from '../protocol/limit-answer.js';
import { REPORT_HEADERS } from '../protocol/names.js';

/** The limit of a block body (`error.tokenlay.limit`, snake_case on the wire) in the public, camelCase shape. */
function limitOf(raw: any): TokenlayLimit | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const { resets_at: resetsAt, ...rest } = raw;
  return resetsAt === undefined ? rest : { ...rest, resetsAt };
}


interface LimitFields {
  ruleId: string | undefined;
  ruleAction: string;
  limit: TokenlayLimit | undefined;
  retryAfter: number | undefined;
}

/** `retry-after` in seconds: delta-seconds, or an HTTP date turned into seconds from now. */
function retryAfterOf(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function limitFields(error: any, headers: HeaderBag): LimitFields {
  const detail = error?.tokenlay ?? {};
  return {
    ruleId: detail.rule_id ?? decodedHeaderOf(headers, REPORT_HEADERS.ruleId),
    ruleAction: headerOf(headers, REPORT_HEADERS.ruleAction) ?? 'block',
    limit: limitOf(detail.limit),
    retryAfter: retryAfterOf(headerOf(headers, 'retry-after')),
  };
}

/**
 * Thrown when a proxy or the embedded engine blocks a call (docs/protocol.md §3). It is an
 * `OpenAI.APIError`, and for a 429 also an `OpenAI.RateLimitError`, so code written for the
 * OpenAI SDK keeps working; it adds the rule and the limit that was hit.
 *
 * ```ts
 * try { await openai.chat.completions.create(body) }
 * catch (err) { if (err instanceof TokenlayLimitError) res.status(429).set('retry-after', String(err.retryAfter)) }
 * ```
 */
export class TokenlayLimitError extends APIError {
  /** The id of the rule that blocked the call. */
  declare readonly ruleId: string | undefined;
  /** `block`, or `queue` when a queued call timed out. */
  declare readonly ruleAction: string;
  /** The limit hit, with its window, current value and reset time, when the proxy said. */
  declare readonly limit: TokenlayLimit | undefined;
  /** Seconds after which the call may succeed, from `retry-after`, when known. */
  declare readonly retryAfter: number | undefined;

  constructor(status: number, error: any, message: string | undefined, headers: any) {
    super(status, error, message, headers);
    markLimitError(this, error, headers);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isLimitError(value);
  }
}

/** The 429 form, so that `err instanceof OpenAI.RateLimitError` holds as well. */
class TokenlayRateLimitError extends RateLimitError {
  constructor(status: number, error: any, message: string | undefined, headers: any) {
    super(status as 429, error, message, headers);
    markLimitError(this, error, headers);
  }
}

function markLimitError(target: any, error: any, headers: HeaderBag): void {
  Object.assign(target, limitFields(error, headers));
  target.name = 'TokenlayLimitError';
  Object.defineProperty(target, kLimitError, { value: true });
}

/** Whether an error answer is a tokenlay enforcement block rather than a provider error. */
export function isEnforcementAnswer(error: any, headers: HeaderBag): boolean {
  return (
    error?.type === 'tokenlay_limit_exceeded' ||
    headerOf(headers, REPORT_HEADERS.ruleAction) === 'block' ||
    headerOf(headers, REPORT_HEADERS.ruleAction) === 'queue'
  );
}

/** Builds the typed error for a blocked call; `body` is the parsed error JSON (`{ error: {...} }`). */
export function createLimitError(
  status: number,
  body: any,
  message: string | undefined,
  headers: HeaderBag,
): TokenlayLimitError {
  const error = body?.error ?? body;
  if (status === 429) return new TokenlayRateLimitError(status, error, message, headers) as unknown as TokenlayLimitError;
  return new TokenlayLimitError(status, error, message, headers);
}
