import type { TokenlayLimitError } from './errors.js';
import { encodeHeaderValue } from './protocol/encoding.js';
import { REPORT_HEADERS, SHOULD_RETRY_HEADER } from './protocol/names.js';

/** The HTTP answer an app gives its own caller for a blocked LLM call. */
export interface LimitAnswer {
  /** The block's status: 429, or the rule's `http_status`. */
  status: number;
  /** `content-type`, `retry-after` (seconds, when known), `x-should-retry: false` and the rule headers. */
  headers: Record<string, string>;
  /** The OpenAI-style error JSON, as the proxy or the engine sent it (docs/protocol.md §3). */
  body: string;
}

// Recognised by the mark `TokenlayLimitError` sets, so adapters need not load the OpenAI SDK.
const kLimitError = Symbol.for('tokenlay.limitError');

/** Whether `err` is a `TokenlayLimitError` (from either build, ESM or CJS). */
export function isLimitError(err: unknown): err is TokenlayLimitError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[kLimitError] === true;
}

/**
 * @internal The OpenAI-style answer for a `TokenlayLimitError`, for the adapters' error handlers;
 * `undefined` for any other error.
 */
export function limitAnswer(err: unknown): LimitAnswer | undefined {
  if (!isLimitError(err)) return undefined;
  const status = typeof err.status === 'number' ? err.status : 429;
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    [SHOULD_RETRY_HEADER]: 'false',
    [REPORT_HEADERS.ruleAction]: err.ruleAction ?? 'block',
    [REPORT_HEADERS.limitExceeded]: 'true',
  };
  // A rule id may be any text: encoded as the protocol says, it is always a legal header value.
  if (err.ruleId) headers[REPORT_HEADERS.ruleId] = encodeHeaderValue(err.ruleId);
  if (err.retryAfter !== undefined) headers['retry-after'] = String(Math.ceil(err.retryAfter));
  const raw = err.error as Record<string, unknown> | undefined;
  const error = raw && typeof raw === 'object' && typeof raw.message === 'string'
    ? raw
    : { message: err.message, type: 'tokenlay_limit_exceeded', code: 'limit_exceeded', param: null };
  return { status, headers, body: JSON.stringify({ error }) };
}
