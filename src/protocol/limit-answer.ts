import { readBlock, type Block as ReadBlock } from './block.js';
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
type Block = Pick<ReadBlock, 'status' | 'ruleId' | 'ruleAction' | 'retryAfter' | 'error'> & { message: string };

/** The body another SDK kept of an HTTP error: openai's parsed `{ error }`, or the AI SDK's raw `responseBody`. */
function bodyOf(err: Record<string, any>): unknown {
  if (err.error && typeof err.error === 'object') return { error: err.error };
  return typeof err.responseBody === 'string' ? err.responseBody : undefined;
}

/**
 * A block reported by another SDK that tokenlay's fetch served (the Vercel AI SDK's
 * `APICallError`, LangChain's or openai's own `APIError` through `createTokenlayFetch`): an HTTP
 * 4xx error whose answer is a block as {@link readBlock} reads one.
 */
function foreignBlock(err: unknown): Block | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Record<string, any>;
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || status < 400 || status > 499) return undefined;
  const block = readBlock(status, e.responseHeaders ?? e.headers, bodyOf(e));
  if (!block) return undefined;
  const message = typeof block.error?.message === 'string' ? block.error.message : String(e.message ?? 'limit exceeded');
  return { ...block, message };
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
