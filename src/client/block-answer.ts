import { isEnforcementAnswer } from './errors.js';
import { SHOULD_RETRY_HEADER } from '../protocol/names.js';

/**
 * @internal A block is final (docs/protocol.md §3): whatever the answer's headers say, the SDK must not
 * retry it, or a `retry-after: 3600` would hold the call for hours. Error answers are read (they
 * are small) to find a block named only in the body, and re-issued with `x-should-retry: false`.
 */
export function neverRetryBlocks(response: Response): Response | Promise<Response> {
  // Answered calls (the hot path) pass through without a promise of their own.
  if (response.status < 400) return response;
  return readBlock(response);
}

async function readBlock(response: Response): Promise<Response> {
  if (isEnforcementAnswer(undefined, response.headers)) return withoutRetry(response, response.body);
  if (!(response.headers.get('content-type') ?? '').includes('json')) return response;
  const text = await response.text();
  let type: unknown;
  try {
    type = JSON.parse(text)?.error?.type;
  } catch {
    // Not JSON after all: the SDK reports it as it is.
  }
  if (type === 'tokenlay_limit_exceeded') return withoutRetry(response, text);
  return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
}

function withoutRetry(response: Response, body: BodyInit | null): Response {
  const headers = new Headers(response.headers);
  headers.set(SHOULD_RETRY_HEADER, 'false');
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}
