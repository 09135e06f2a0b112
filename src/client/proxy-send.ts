import { TokenlayError } from '../errors.js';
import { headerOf, type HeaderBag } from '../protocol/header-bag.js';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Marks an error of ours that explains a failed call: which URL could not be reached, which redirect was refused. */
export const kExplained = Symbol.for('tokenlay.explainedError');

/** The proxy redirected a call, with its keys, to another origin; nothing was sent there. */
export class TokenlayRedirectError extends TokenlayError {
  override name = 'TokenlayRedirectError';
  /** The origin the call was sent to. */
  readonly from: string;
  /** The origin the answer redirected to. */
  readonly to: string;
  constructor(from: string, to: string) {
    super(
      `tokenlay: ${from} redirected the call to another origin, ${to}; the keys are never sent to another origin, so the call was not made. ` +
        `If ${to} is your Tokenlay proxy, set tokenlayBaseUrl (env TOKENLAY_BASE_URL) to it.`,
    );
    this.from = from;
    this.to = to;
    Object.defineProperty(this, kExplained, { value: true });
  }
}

/** A TokenlayError that says why a call was not made, which `TokenlayOpenAI` throws as it is. */
function explainedError(message: string): TokenlayError {
  const error = new TokenlayError(message);
  Object.defineProperty(error, kExplained, { value: true });
  return error;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

function replayable(body: RequestInit['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams || body instanceof Blob || body instanceof FormData;
}

/** Marks an explained connection failure that timed out (which openai 5 to 7 report as a timeout). */
export const kTimedOut = Symbol.for('tokenlay.timedOut');

/** Text with the user and password of any URL in it shown as `***`, as the option errors show them. */
function hideCredentials(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/g, '//***@');
}

function unreachable(url: string, cause: unknown): Error {
  // undici's "fetch failed" says why in its cause: a code (ECONNREFUSED), else a message ("bad port").
  const why = (cause as { cause?: { code?: string; message?: string } })?.cause;
  const reason = hideCredentials(String(why?.code ?? why?.message ?? (cause as Error)?.message ?? String(cause)));
  const error = new TypeError(
    `tokenlay: could not reach ${hideCredentials(url)} (${reason}). Check that the Tokenlay proxy runs there, or set tokenlayBaseUrl (env TOKENLAY_BASE_URL).`,
    { cause },
  );
  Object.defineProperty(error, kExplained, { value: true });
  // Told by the failure's code or message alone: the URL may well contain "timeout".
  if (/timed? ?out/i.test(reason)) Object.defineProperty(error, kTimedOut, { value: true });
  return error;
}

/**
 * @internal Sends a call that carries keys to the proxy. Redirects are followed only within the
 * origin the call was sent to; one to another origin fails without sending anything there. A
 * connection failure names the URL that could not be reached. Aborts and timeouts pass unchanged.
 * `init` is the caller's own copy: its `redirect` is set here.
 */
export function sendWithKeys(inner: Fetch, url: string, init: RequestInit): Promise<Response> {
  init.redirect = 'manual';
  // The first hop, which nearly every call ends at, without an async function of its own.
  let sent: Promise<Response>;
  try {
    sent = inner(url, init);
  } catch (err) {
    return Promise.reject(failure(url, init, err));
  }
  return sent.then(
    (response) => (REDIRECTS.has(response.status) ? followRedirects(inner, url, init, response) : response),
    (err: unknown) => {
      throw failure(url, init, err);
    },
  );
}

/** Aborts and timeouts pass unchanged; anything else says which URL could not be reached. */
function failure(url: string, request: RequestInit, err: unknown): unknown {
  if (request.signal?.aborted || (err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError') return err;
  return unreachable(url, err);
}

async function followRedirects(inner: Fetch, url: string, init: RequestInit, first: Response): Promise<Response> {
  let target = url;
  let request: RequestInit = init;
  let response = first;
  for (let hop = 0; ; hop++) {
    const location = REDIRECTS.has(response.status) ? response.headers.get('location') : null;
    if (location === null) return response;
    const next = new URL(location, target);
    const from = new URL(target).origin;
    await response.body?.cancel().catch(() => undefined);
    if (next.origin !== from) throw new TokenlayRedirectError(from, next.origin);
    if (hop >= MAX_REDIRECTS) throw explainedError(`tokenlay: more than ${MAX_REDIRECTS} redirects from ${from}; the call was not completed.`);
    // As fetch does: 303, and 301/302 after a POST, turn into a GET without a body.
    const toGet = response.status === 303 || ((response.status === 301 || response.status === 302) && request.method === 'POST');
    if (toGet) {
      request = { ...request, method: 'GET', body: undefined };
      const headers = new Headers(request.headers);
      headers.delete('content-type');
      headers.delete('content-length');
      request.headers = headers;
    } else if (!replayable(request.body)) {
      throw explainedError(`tokenlay: ${from} redirected a call whose body is a stream, which cannot be sent twice; the call was not completed.`);
    }
    target = next.href;
    try {
      response = await inner(target, request);
    } catch (err) {
      throw failure(target, request, err);
    }
  }
}

/** Names our failure answers, for whoever reads the SDK's log of one (a 502 that no server sent). */
const FAILURE_HEADER = 'x-tokenlay-client-failure';
// This process's own, so no proxy's answer can pass for one. It rides in the body, which the SDK
// never logs when it is JSON (openai 4 to 7), not in a header, which it logs at logLevel 'debug'.
let failureMark: string | undefined;

// The failure each answer stands for, by the headers object the answer carries: openai 5 to 7
// hand that very object to `makeStatusError`.
const failures = new WeakMap<object, Error>();

/**
 * @internal A failure our transport explained (an unreachable proxy, a refused redirect, too many
 * redirects), as the answer the OpenAI SDK is given instead of a fetch error. The SDK reports
 * every fetch error as "Connection error.", whatever it was; an answer reaches `makeStatusError`,
 * where the client turns it back into the explained error ({@link failureOf}).
 * `x-should-retry: true` has the SDK retry it as it retries a connection failure. `undefined` for
 * any other error.
 */
export function failureAnswer(error: unknown): Response | undefined {
  if (!(error as { [kExplained]?: boolean } | null)?.[kExplained]) return undefined;
  const explained = error as Error;
  failureMark ??= `tokenlay-${globalThis.crypto.randomUUID()}`;
  const redirect =
    explained instanceof TokenlayRedirectError ? { from: explained.from, to: explained.to } : explained instanceof TokenlayError ? { tokenlay_error: true } : {};
  const timedOut = (explained as { [kTimedOut]?: boolean })[kTimedOut] === true ? { timed_out: true } : {};
  const answer = new Response(JSON.stringify({ error: { message: explained.message, type: 'tokenlay_client_failure', ...redirect, ...timedOut, mark: failureMark } }), {
    status: 502,
    headers: { 'content-type': 'application/json', 'x-should-retry': 'true', [FAILURE_HEADER]: 'true' },
  });
  failures.set(answer.headers, explained);
  return answer;
}

/**
 * @internal The explained failure a {@link failureAnswer} stands for, from what `makeStatusError`
 * is given: the answer's headers and parsed body. `undefined` for any real answer.
 */
export function failureOf(headers: HeaderBag, body: unknown): Error | undefined {
  const known = headers && failures.get(headers);
  if (known) return known;
  if (failureMark === undefined || headerOf(headers, FAILURE_HEADER) === undefined) return undefined;
  // openai 4 hands over a copy of the headers: the failure is rebuilt from the answer's body.
  const { message, from, to, tokenlay_error, timed_out, mark } =
    (body as { error?: { message?: string; from?: string; to?: string; tokenlay_error?: boolean; timed_out?: boolean; mark?: string } } | null)?.error ?? {};
  if (mark !== failureMark) return undefined;
  if (from !== undefined && to !== undefined) return new TokenlayRedirectError(from, to);
  if (tokenlay_error === true) return explainedError(message ?? '');
  const rebuilt = new TypeError(message);
  Object.defineProperty(rebuilt, kExplained, { value: true });
  if (timed_out === true) Object.defineProperty(rebuilt, kTimedOut, { value: true });
  return rebuilt;
}
