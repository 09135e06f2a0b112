import type { ServerResponse } from 'node:http';
import { errorBodyText, type ErrorBody } from '../protocol/error-body.js';
import { SHOULD_RETRY_HEADER } from '../protocol/names.js';

/**
 * Answers with an OpenAI-style error: `{"error": {"message", "type", "code", "param"}}`. Refusals
 * of the gateway itself are not worth retrying, so they carry `x-should-retry: false`.
 */
export function sendError(res: ServerResponse, status: number, error: ErrorBody, headers: Record<string, string> = {}): void {
  const body = errorBodyText(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    [SHOULD_RETRY_HEADER]: 'false',
    ...headers,
  });
  res.end(body);
}

/** Answers 200 with a JSON body. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
