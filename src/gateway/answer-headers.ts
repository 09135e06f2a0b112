/**
 * The provider's answer headers that reach the caller. The gateway answers on its own origin, the
 * one its dashboard's cookie lives on: a header a provider sends is passed on only when it is on
 * this list. Cookies (`set-cookie`), this hop's framing (`connection`, `keep-alive`,
 * `transfer-encoding`, `upgrade`, `trailer`, `proxy-*`) and headers that speak for the whole origin
 * (`strict-transport-security`, `clear-site-data`, `alt-svc`, CORS, `location`, `refresh`, `link`)
 * never do; the gateway sets the length itself.
 */

/** Passed on by exact name: what the OpenAI SDK and other clients read from an answer. */
export const PASSED_HEADERS: readonly string[] = [
  'content-type',
  'content-disposition',
  'content-language',
  'cache-control',
  'etag',
  'last-modified',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'x-request-id',
  'request-id',
  'www-authenticate',
];

/** Passed on by prefix: OpenAI's `openai-*` and rate-limit headers, Anthropic's, and tokenlay's report (docs/protocol.md §2). */
export const PASSED_PREFIXES: readonly string[] = ['openai-', 'x-ratelimit-', 'anthropic-ratelimit-', 'x-tokenlay-'];

const EXACT = new Set(PASSED_HEADERS);

/** Whether a provider answer header (lower-case name) may reach the caller. */
export function passesToCaller(name: string): boolean {
  return EXACT.has(name) || PASSED_PREFIXES.some((p) => name.startsWith(p));
}

/** The allowed headers of an answer, as `res.writeHead` takes them. */
export function callerHeaders(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (passesToCaller(name)) out[name] = value;
  });
  return out;
}
