import { decodedHeaderOf, headerOf, type HeaderBag } from './header-bag.js';
import { encodeHeaderValue } from './encoding.js';
import { REPORT_HEADERS, SHOULD_RETRY_HEADER } from './names.js';

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
export const kLimitError = Symbol.for('tokenlay.limitError');

/** What a `TokenlayLimitError` carries, read here without loading the OpenAI SDK that defines it. */
export interface MarkedLimitError {
  status: number | undefined;
  error: unknown;
  message: string;
  ruleId: string | undefined;
  ruleAction: string;
  retryAfter: number | undefined;
}

/** Whether `err` is a `TokenlayLimitError` (from either build, ESM or CJS). */
export function isLimitError(err: unknown): err is MarkedLimitError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[kLimitError] === true;
}

/** What an answer needs of a block, whichever SDK reported it. */
interface Block {
  status: number;
  ruleId: string | undefined;
  ruleAction: string;
  retryAfter: number | undefined;
  /** The body's `error` object, when the SDK kept it. */
  error: Record<string, unknown> | undefined;
  message: string;
}

function errorObject(err: Record<string, any>): Record<string, unknown> | undefined {
  // openai's APIError keeps the parsed body's `error`; the AI SDK keeps the raw `responseBody`.
  if (err.error && typeof err.error === 'object') return err.error;
  if (typeof err.responseBody !== 'string') return undefined;
  try {
    const parsed = JSON.parse(err.responseBody);
    return parsed?.error && typeof parsed.error === 'object' ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A block reported by another SDK that tokenlay's fetch served (the Vercel AI SDK's
 * `APICallError`, LangChain's or openai's own `APIError` through `createTokenlayFetch`): an HTTP
 * error whose answer carries the enforcement headers or a `tokenlay_limit_exceeded` body.
 */
function foreignBlock(err: unknown): Block | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Record<string, any>;
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || status < 400 || status > 499) return undefined;
  const headers: HeaderBag = e.responseHeaders ?? e.headers;
  const error = errorObject(e);
  const action = headerOf(headers, REPORT_HEADERS.ruleAction);
  const enforced = headerOf(headers, REPORT_HEADERS.limitExceeded) === 'true' || action === 'block' || action === 'queue' || error?.type === 'tokenlay_limit_exceeded';
  if (!enforced) return undefined;
  const retryAfter = Number(headerOf(headers, 'retry-after'));
  return {
    status,
    ruleId: (error?.tokenlay as { rule_id?: string } | undefined)?.rule_id ?? decodedHeaderOf(headers, REPORT_HEADERS.ruleId),
    ruleAction: action ?? 'block',
    retryAfter: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
    error,
    message: typeof error?.message === 'string' ? error.message : String(e.message ?? 'limit exceeded'),
  };
}

function blockOf(err: unknown): Block | undefined {
  if (!isLimitError(err)) return foreignBlock(err);
  const raw = err.error as Record<string, unknown> | undefined;
  return {
    status: typeof err.status === 'number' ? err.status : 429,
    ruleId: err.ruleId,
    ruleAction: err.ruleAction ?? 'block',
    retryAfter: err.retryAfter,
    error: raw && typeof raw === 'object' ? raw : undefined,
    message: err.message,
  };
}

/**
 * @internal The OpenAI-style answer for a block, for the adapters' error handlers: a
 * `TokenlayLimitError`, or the error another SDK (Vercel AI SDK, LangChain) raised for a block that
 * `createTokenlayFetch` or `tokenlayFetch` served; `undefined` for any other error.
 */
export function limitAnswer(err: unknown): LimitAnswer | undefined {
  const block = blockOf(err);
  if (!block) return undefined;
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    [SHOULD_RETRY_HEADER]: 'false',
    [REPORT_HEADERS.ruleAction]: block.ruleAction,
    [REPORT_HEADERS.limitExceeded]: 'true',
  };
  // A rule id may be any text: encoded as the protocol says, it is always a legal header value.
  if (block.ruleId) headers[REPORT_HEADERS.ruleId] = encodeHeaderValue(block.ruleId);
  if (block.retryAfter !== undefined) headers['retry-after'] = String(Math.ceil(block.retryAfter));
  const error = block.error && typeof block.error.message === 'string'
    ? block.error
    : { message: block.message, type: 'tokenlay_limit_exceeded', code: 'limit_exceeded', param: null };
  return { status: block.status, headers, body: JSON.stringify({ error }) };
}
