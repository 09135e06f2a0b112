/**
 * The reader of a block (docs/protocol.md §3), the one place that decides whether an answer is an
 * enforcement block and what it says: the client's `TokenlayLimitError`, its no-retry guard, and
 * the adapters' answer for a block another SDK reported all read it here.
 */
import { decodedHeaderOf, headerOf, type HeaderBag } from './header-bag.js';
import { REPORT_HEADERS } from './names.js';

/** The limit a block names (`error.tokenlay.limit` on the wire), in the public camelCase shape. */
export interface BlockLimit {
  type: 'requests' | 'tokens' | 'cost' | 'concurrent' | (string & {});
  window: string;
  per: string | string[];
  max: number;
  current: number;
  /** ISO 8601 time at which the window resets, when known (`resets_at` on the wire). */
  resetsAt?: string;
}

/** What a block says, read from its status, headers and body. */
export interface Block {
  status: number;
  /** The rule that blocked the call: the body's `error.tokenlay.rule_id`, else `x-tokenlay-rule-id` (decoded). */
  ruleId: string | undefined;
  /** `block`, or `queue` when a queued call timed out. */
  ruleAction: string;
  /** Seconds after which the call may succeed, from `retry-after`, when known. */
  retryAfter: number | undefined;
  limit: BlockLimit | undefined;
  /** The body's `error` object, when the body had one. */
  error: Record<string, unknown> | undefined;
}

/** The value of `type` in the body of a block. */
export const BLOCK_ERROR_TYPE = 'tokenlay_limit_exceeded';

// delta-seconds (RFC 9110 §10.2.3); fractions are accepted, as some proxies send them.
const DELTA_SECONDS = /^\d+(\.\d+)?$/;

/**
 * `retry-after` in seconds: delta-seconds as they are, an HTTP date as whole seconds from `now`
 * (ms since the epoch; 0 for a date already past). `undefined` when absent or malformed.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (DELTA_SECONDS.test(text)) return Number(text);
  // An HTTP date names its weekday or month in letters: a bare number is never a date here.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The `error` object of a parsed body (`{ error: {...} }`), or of its JSON text. */
function errorObject(body: unknown): Record<string, unknown> | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const error = (parsed as { error?: unknown } | null | undefined)?.error;
  return typeof error === 'object' && error !== null && !Array.isArray(error) ? (error as Record<string, unknown>) : undefined;
}

function limitOf(raw: unknown): BlockLimit | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const { resets_at: resetsAt, ...rest } = raw as Record<string, unknown>;
  return (resetsAt === undefined ? rest : { ...rest, resetsAt }) as unknown as BlockLimit;
}

/** Whether the headers alone say the answer is a block (`x-tokenlay-rule-action: block` or `queue`). */
export function headersSayBlock(headers: HeaderBag): boolean {
  const action = headerOf(headers, REPORT_HEADERS.ruleAction);
  return action === 'block' || action === 'queue';
}

/**
 * Reads a block from an answer: an error status whose headers carry `x-tokenlay-rule-action:
 * block` (or `queue`), or whose body's `error.type` is `tokenlay_limit_exceeded`. `body` is the
 * parsed JSON, its text, or `undefined` when it was not read. `undefined` for any other answer.
 */
export function readBlock(status: number, headers: HeaderBag, body: unknown, now?: number): Block | undefined {
  if (!(status >= 400)) return undefined;
  const error = errorObject(body);
  if (!headersSayBlock(headers) && error?.type !== BLOCK_ERROR_TYPE) return undefined;
  return blockOf(status, headers, error, now);
}

/** @internal What an answer known to be a block says (for an error made from one). */
export function blockOf(status: number, headers: HeaderBag, error: Record<string, unknown> | undefined, now?: number): Block {
  const detail = (error?.tokenlay ?? {}) as { rule_id?: unknown; limit?: unknown };
  return {
    status,
    ruleId: typeof detail.rule_id === 'string' ? detail.rule_id : decodedHeaderOf(headers, REPORT_HEADERS.ruleId),
    ruleAction: headerOf(headers, REPORT_HEADERS.ruleAction) ?? 'block',
    retryAfter: parseRetryAfter(headerOf(headers, 'retry-after'), now),
    limit: limitOf(detail.limit),
    error,
  };
}
