import { APIError, RateLimitError } from 'openai';

import { TokenlayConfigError, TokenlayError } from './config-error.js';
import { decodedHeaderOf, headerOf, type HeaderBag } from './header-bag.js';
import { isLimitError, kLimitError } from './limit-answer.js';
import { REPORT_HEADERS } from './protocol/names.js';

export { TokenlayConfigError, TokenlayError };

/** A field cannot be sent as a header: bad name, value not well-formed Unicode or over 256 characters, or over 8 KiB in all. */
export class TokenlayHeaderError extends TokenlayError {
  override name = 'TokenlayHeaderError';
  /** The field that broke the limit. */
  readonly field: string;
  /** Which limit: the field's name, one value's length or its encoding (a lone surrogate), or all headers together. */
  readonly limit: 'name' | 'value' | 'encoding' | 'total';
  constructor(message: string, details: { field: string; limit: 'name' | 'value' | 'encoding' | 'total' }) {
    super(message);
    this.field = details.field;
    this.limit = details.limit;
  }
}

/** A scope operation was used where it cannot work, e.g. `setTokenlayContext` outside a scope. */
export class TokenlayScopeError extends TokenlayError {
  override name = 'TokenlayScopeError';
}

/** The limit a blocked call hit, as the proxy or the embedded engine reported it. */
export interface TokenlayLimit {
  type: 'requests' | 'tokens' | 'cost' | 'concurrent' | (string & {});
  window: string;
  per: string | string[];
  max: number;
  current: number;
  /** ISO 8601 time at which the window resets, when known (`resets_at` in the raw body, `error.error`). */
  resetsAt?: string;
}

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
