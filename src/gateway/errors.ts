import type { ServerResponse } from 'node:http';
import { SHOULD_RETRY_HEADER } from '../protocol/names.js';

/** The `error` object of an OpenAI-style error body, which every OpenAI client surfaces as an API error. */
export interface GatewayError {
  message: string;
  type: string;
  code: string;
  param?: string | null;
}

/**
 * Answers with an OpenAI-style error: `{"error": {"message", "type", "code", "param"}}`. Refusals
 * of the gateway itself are not worth retrying, so they carry `x-should-retry: false`.
 */
export function sendError(res: ServerResponse, status: number, error: GatewayError, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { message: error.message, type: error.type, code: error.code, param: error.param ?? null } });
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
