/** Sending a call to the provider, with failover to the rule's fallback models. */
import { HEADER_PREFIX, PROVIDER_KEY_HEADER } from '../protocol/names.js';

/** A provider's answer, read (JSON and errors) or left streaming (SSE). */
export type ProviderAnswer =
  | { kind: 'read'; status: number; headers: Headers; text: string; model: string | undefined }
  | { kind: 'stream'; response: Response; model: string | undefined }
  | { kind: 'failed'; reason: 'timeout' | 'unreachable'; detail: string; model: string | undefined }
  /**
   * A 2xx answer whose body broke off (connection lost, or no more of it within the timeout): the
   * provider has billed the call. `text` is what arrived; `declaredBytes` the length its headers promised.
   */
  | { kind: 'cut'; status: number; headers: Headers; text: string; declaredBytes: number | undefined; detail: string; model: string | undefined }
  /** The call was ended by `stop` (shutdown) after it was sent: the provider may bill it. */
  | { kind: 'aborted'; reason: unknown; model: string | undefined };

export interface ForwardRequest {
  url: string;
  method: string;
  /** Headers for the provider: `x-tokenlay-*` already removed. */
  headers: Headers;
  /** Builds the body for one model (undefined: the body as the caller sent it). */
  bodyFor: (model: string | undefined) => BodyInit | null | undefined;
  /** The model first, then fallbacks, tried in order. */
  models: Array<string | undefined>;
  /**
   * The caller's signal. Once the call is sent, it is carried on until the provider answers: a
   * JSON answer is read to its end all the same (the provider bills it, and reports what it
   * billed). Only a streamed answer is given up when its caller leaves (`abandonOnAbort`), from
   * its first byte on: the provider stops a stream that is left. A caller who has left gets no
   * fallback attempt.
   */
  signal?: AbortSignal | undefined;
  /** Give up a streamed answer, once it has begun, as soon as the caller leaves. */
  abandonOnAbort: boolean;
  /** Ends the provider call at once, whoever waits for it (the engine's shutdown). */
  stop?: AbortSignal | undefined;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** Request headers that belong to one hop, or that the engine sets itself. */
const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);

/**
 * The caller's headers minus everything tokenlay and hop-by-hop: what the provider may see. A
 * call that carries the provider key as `x-tokenlay-provider-key` (as the SDK sends it to a proxy,
 * docs/protocol.md §1) has it sent as the provider's `Authorization`.
 */
export function providerHeaders(headers: Headers): Headers {
  const out = new Headers();
  headers.forEach((value, name) => {
    if (name.startsWith(HEADER_PREFIX) || HOP_HEADERS.has(name)) return;
    out.set(name, value);
  });
  const key = headers.get(PROVIDER_KEY_HEADER);
  if (key) out.set('authorization', `Bearer ${key}`);
  return out;
}

/** The provider's base for error messages: origin and path, never credentials or a query. */
export function providerBase(url: string): string {
  try {
    const u = new URL(url);
    const at = u.pathname.lastIndexOf('/v1/');
    return u.origin + (at >= 0 ? u.pathname.slice(0, at + 3) : '');
  } catch {
    return '(invalid provider URL)';
  }
}

class Timeout extends Error {}

function isSse(headers: Headers): boolean {
  return (headers.get('content-type') ?? '').toLowerCase().includes('text/event-stream');
}

/** The provider answered with a redirect, which is never followed; only origins are named (a URL may carry a token). */
class ProviderRedirect extends Error {
  constructor(status: number, location: string, from: string) {
    let to = '(an unreadable location)';
    try {
      to = new URL(location, from).origin;
    } catch {
      // keep the placeholder
    }
    super(`the provider answered ${status} with a redirect to ${to}, which tokenlay never follows (the provider key would go with it); set providerApiBase to the provider's final base URL`);
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof ProviderRedirect) return err.message;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}

/** A body as far as it arrived: whole, or cut off by a broken connection or the timeout. */
async function readBody(response: Response): Promise<{ text: string; error?: unknown }> {
  if (!response.body) return { text: '' };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text: text + decoder.decode() };
      text += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    return { text: text + decoder.decode(), error };
  }
}

function declaredLength(headers: Headers): number | undefined {
  const length = Number(headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/**
 * Sends the call with each model in turn until one answers below 500. A 5xx, a connection error
 * or no answer within `timeoutMs` moves on to the next model; the last 5xx is returned as it is.
 * A non-stream answer is read under the same timeout; a 2xx one whose body breaks off is `cut`
 * and never sent again (the provider billed it). Once sent, a JSON call is read to its end even
 * when the caller leaves, and so is a stream until its first byte (`abandonOnAbort`: it then ends
 * with its caller). An abort before sending is thrown; `aborted` is a call ended by `stop`. `failures` describes every model that failed, for the call's warnings;
 * `reached` says whether any attempt reached the provider (it answered, or took the call and
 * did not answer in time).
 */
export async function forward(req: ForwardRequest): Promise<{ answer: ProviderAnswer; failures: string[]; reached: boolean }> {
  const failures: string[] = [];
  let answer: ProviderAnswer | undefined;
  let reached = false;
  req.signal?.throwIfAborted();
  for (let i = 0; i < req.models.length; i++) {
    const model = req.models[i];
    const last = i === req.models.length - 1;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Timeout()), req.timeoutMs);
    // Linked by hand: AbortSignal.any would make one more signal per attempt, and each costs
    // tens of microseconds on Node 20.
    const link = req.abandonOnAbort ? req.signal : undefined;
    const onAbort = () => controller.abort(link!.reason);
    const onStop = () => controller.abort(req.stop!.reason);
    req.stop?.addEventListener('abort', onStop, { once: true });
    const unlink = () => {
      clearTimeout(timer);
      link?.removeEventListener('abort', onAbort);
      req.stop?.removeEventListener('abort', onStop);
    };
    const signal = controller.signal;
    try {
      const body = req.bodyFor(model);
      // Never follows a redirect: it could lead anywhere, with the provider key attached.
      const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers: req.headers, body, signal, redirect: 'manual' };
      // A streamed upload must be sent half-duplex by Node's fetch.
      if (body instanceof ReadableStream) init.duplex = 'half';
      const response = await req.fetch(req.url, init);
      reached = true;
      if (response.status >= 300 && response.status < 400 && response.headers.has('location')) {
        await response.body?.cancel().catch(() => undefined);
        throw new ProviderRedirect(response.status, response.headers.get('location')!, req.url);
      }
      if (response.ok && isSse(response.headers)) {
        clearTimeout(timer);
        // From its first byte a stream ends with its caller (one who has already left is the engine's to settle).
        link?.addEventListener('abort', onAbort, { once: true });
        return { answer: { kind: 'stream', response, model }, failures, reached };
      }
      const { text, error } = await readBody(response);
      unlink();
      const abandoned = signal.aborted && !(signal.reason instanceof Timeout);
      if (error !== undefined && response.ok && !abandoned) {
        const detail = signal.aborted ? `no more of it within ${req.timeoutMs} ms` : reasonOf(error);
        return { answer: { kind: 'cut', status: response.status, headers: response.headers, text, declaredBytes: declaredLength(response.headers), detail, model }, failures, reached };
      }
      if (error !== undefined) throw error;
      answer = { kind: 'read', status: response.status, headers: response.headers, text, model };
      if (response.status < 500) return { answer, failures, reached };
      failures.push(`provider answered ${response.status} for model ${model ?? '(none)'}`);
    } catch (err) {
      unlink();
      if (signal.aborted && !(signal.reason instanceof Timeout)) return { answer: { kind: 'aborted', reason: signal.reason ?? err, model }, failures, reached };
      const timedOut = signal.aborted;
      reached ||= timedOut;
      const detail = timedOut ? `no answer within ${req.timeoutMs} ms` : reasonOf(err);
      answer = { kind: 'failed', reason: timedOut ? 'timeout' : 'unreachable', detail, model };
      failures.push(`provider ${timedOut ? 'timed out' : 'unreachable'} for model ${model ?? '(none)'}: ${detail}`);
    }
    // A caller who has left gets no further attempt.
    if (last || req.signal?.aborted) break;
  }
  return { answer: answer!, failures, reached };
}
