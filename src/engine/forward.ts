/** Sending a call to the provider, with failover to the rule's fallback models. */

/** A provider's answer, read (JSON and errors) or left streaming (SSE). */
export type ProviderAnswer =
  | { kind: 'read'; status: number; headers: Headers; text: string; model: string | undefined }
  | { kind: 'stream'; response: Response; model: string | undefined }
  | { kind: 'failed'; reason: 'timeout' | 'unreachable'; detail: string; model: string | undefined }
  /** The caller went away after the call was sent: the provider may bill it. */
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
  signal?: AbortSignal | undefined;
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
    if (name.startsWith('x-tokenlay-') || HOP_HEADERS.has(name)) return;
    out.set(name, value);
  });
  const key = headers.get('x-tokenlay-provider-key');
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

function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}

/**
 * Sends the call with each model in turn until one answers below 500. A 5xx, a connection error
 * or no answer within `timeoutMs` moves on to the next model; the last 5xx is returned as it is.
 * A non-stream answer is read under the same timeout. The caller's abort ends it at once, as
 * `aborted` (the call was sent, so the provider may bill it); an abort before sending is thrown.
 * `failures` describes every model that failed, for the call's warnings.
 */
export async function forward(req: ForwardRequest): Promise<{ answer: ProviderAnswer; failures: string[] }> {
  const failures: string[] = [];
  let answer: ProviderAnswer | undefined;
  for (let i = 0; i < req.models.length; i++) {
    const model = req.models[i];
    const last = i === req.models.length - 1;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Timeout()), req.timeoutMs);
    // Linked by hand: AbortSignal.any would make one more signal per attempt, and each costs
    // tens of microseconds on Node 20.
    const onAbort = () => controller.abort(req.signal!.reason);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = controller.signal;
    try {
      const body = req.bodyFor(model);
      const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers: req.headers, body, signal };
      // A streamed upload must be sent half-duplex by Node's fetch.
      if (body instanceof ReadableStream) init.duplex = 'half';
      const response = await req.fetch(req.url, init);
      if (response.ok && isSse(response.headers)) {
        clearTimeout(timer);
        return { answer: { kind: 'stream', response, model }, failures };
      }
      const text = await response.text();
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      answer = { kind: 'read', status: response.status, headers: response.headers, text, model };
      if (response.status < 500) return { answer, failures };
      failures.push(`provider answered ${response.status} for model ${model ?? '(none)'}`);
    } catch (err) {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      if (req.signal?.aborted) return { answer: { kind: 'aborted', reason: req.signal.reason ?? err, model }, failures };
      const timedOut = controller.signal.aborted;
      const detail = timedOut ? `no answer within ${req.timeoutMs} ms` : reasonOf(err);
      answer = { kind: 'failed', reason: timedOut ? 'timeout' : 'unreachable', detail, model };
      failures.push(`provider ${timedOut ? 'timed out' : 'unreachable'} for model ${model ?? '(none)'}: ${detail}`);
    }
    if (last) break;
  }
  return { answer: answer!, failures };
}
