import { blankReport, writeReportHeaders, type CallReport } from './report.js';

/** The `error` object of an OpenAI-style error body (docs/protocol.md §3). */
export interface ErrorBody {
  message: string;
  /** e.g. `tokenlay_limit_exceeded`, `tokenlay_blocked`, `invalid_request_error`. */
  type: string;
  code: string | null;
  param?: string | null;
  /** The tokenlay detail of a block: the rule and the limit. */
  tokenlay?: unknown;
}

/**
 * The one writer of an OpenAI-style error body, `{"error": {"message", "type", "code", "param", …}}`
 * (`param` null when none): the engine's answers and the gateway's own refusals both write it.
 */
export function errorBodyText(error: ErrorBody): string {
  return JSON.stringify({ error: { ...error, param: error.param ?? null } });
}

/** An OpenAI-style error answer with the report's headers, so that every OpenAI client surfaces it as an API error. */
export function errorAnswer(status: number, error: ErrorBody, report: CallReport = blankReport(), extra: Record<string, string> = {}): Response {
  const headers = new Headers({ 'content-type': 'application/json', ...extra });
  writeReportHeaders(headers, report);
  return new Response(errorBodyText(error), { status, headers });
}
