import { APIConnectionError, APIConnectionTimeoutError, APIError, RateLimitError } from 'openai';

import { TokenlayError, type TokenlayLimit } from '../errors.js';
import { blockOf, type Block } from '../protocol/block.js';
import type { HeaderBag } from '../protocol/header-bag.js';
import { isLimitError, kLimitError } from '../protocol/limit-answer.js';
import { kTimedOut } from './proxy-send.js';

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
    markLimitError(this, blockOf(status, headers, error && typeof error === 'object' ? error : undefined));
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isLimitError(value);
  }
}

/** The 429 form, so that `err instanceof OpenAI.RateLimitError` holds as well. */
class TokenlayRateLimitError extends RateLimitError {
  constructor(status: number, error: any, message: string | undefined, headers: any) {
    super(status as 429, error, message, headers);
    markLimitError(this, blockOf(status, headers, error && typeof error === 'object' ? error : undefined));
  }
}

function markLimitError(target: any, block: Block): void {
  target.ruleId = block.ruleId;
  target.ruleAction = block.ruleAction;
  target.limit = block.limit as TokenlayLimit | undefined;
  target.retryAfter = block.retryAfter;
  target.name = 'TokenlayLimitError';
  Object.defineProperty(target, kLimitError, { value: true });
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

/**
 * The error for a call whose connection failed in a way the transport explained: the SDK's
 * `APIConnectionError` saying which URL could not be reached (an `APIConnectionTimeoutError` when
 * the transport saw it time out, as openai 5 to 7 tell them apart), with the explanation as its
 * `cause`. A refused redirect is not a connection problem: its `TokenlayRedirectError` itself.
 */
export function createConnectionError(failure: Error): Error {
  if (failure instanceof TokenlayError) return failure;
  const message = `Connection error: ${failure.message}`;
  if ((failure as { [kTimedOut]?: boolean })[kTimedOut] !== true) return new APIConnectionError({ message, cause: failure });
  const timeout = new APIConnectionTimeoutError({ message });
  (timeout as { cause?: unknown }).cause = failure;
  return timeout;
}
