/**
 * The gateway's hop to the provider: one undici `Pool` per provider origin and `dispatch()` on it,
 * in place of the global `fetch` (which builds a WHATWG `Request`, its `AbortSignal` and a body
 * stream per call, and writes a string body in several writes) and of undici's `request()` (which
 * parses the headers twice and passes the body through a Node stream of its own). The engine still
 * sees a `fetch`: this answers with a `Response`, so embedded mode, which keeps the global `fetch`
 * on every runtime, and the gateway share one engine. Node only: the gateway is its only user.
 */
import { Pool } from 'undici';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Dispatcher } from 'undici';

/** What {@link createUpstream} gives the gateway. */
export interface Upstream {
  /** A `fetch` for the engine's `fetch` option. Never follows a redirect (undici's `dispatch` does not). */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /** Ends every pool and its connections (at shutdown, once the engine has settled its calls). */
  close(): Promise<void>;
}

function flatHeaders(headers: HeadersInit | undefined): string[] {
  const flat: string[] = [];
  if (headers === undefined) return flat;
  if (headers instanceof Headers) headers.forEach((value, name) => flat.push(name, value));
  else if (Array.isArray(headers)) for (const [name, value] of headers) flat.push(name!, value!);
  else for (const name in headers) flat.push(name, headers[name]!);
  return flat;
}

/** The answer's raw header lines as `Headers`, decoded as undici's `request()` decodes them. */
function answerHeaders(raw: Buffer[]): Headers {
  const headers = new Headers();
  let disposition: string | undefined;
  let length = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    if (name === 'content-length') length = true;
    // Node reads Content-Disposition as latin1 beside a length (nodejs/node#46528), as undici does.
    if (name === 'content-disposition') disposition = raw[i + 1]!.toString('latin1');
    else headers.append(name, raw[i + 1]!.toString('utf8'));
  }
  if (disposition !== undefined) headers.append('content-disposition', length ? disposition : Buffer.from(disposition, 'latin1').toString('utf8'));
  return headers;
}

const bytesOf = (chunk: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.byteLength);

/** Statuses that carry no body, which `new Response` refuses one for. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A whole answer as a stream of one chunk. `new Response(bytes)` would wrap the bytes in a byte
 * stream, whose controller and asynchronous pull cost more than this.
 */
function wholeStream(bytes: Buffer): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytesOf(bytes));
      controller.close();
    },
  });
}

/** The bytes that came, then the error that cut them off: a cut answer as `fetch` would give it. */
function cutStream(chunks: Buffer[], error: Error): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(bytesOf(chunk));
      controller.error(error);
    },
  });
}

/**
 * One call on a pool, as undici's dispatcher drives it. A stream (`text/event-stream`) is handed
 * on as a web stream as it arrives: the socket is paused while the reader is behind, and the
 * connection is ended when the reader cancels. Any other answer is read whole first, in Node
 * buffers; one that breaks off is handed on as a stream of what came, then its error, so that the
 * engine sees a cut answer as it would from `fetch` (billed by the provider, never sent again).
 */
class UpstreamCall implements Dispatcher.DispatchHandlers {
  private abort: ((err?: Error) => void) | undefined;
  private reason: Error | undefined;
  private status = 0;
  private headers: Headers | undefined;
  private chunks: Buffer[] = [];
  private length = 0;
  /** The stream's controller, while it is open. */
  private stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  private discard = false;
  private settled = false;

  constructor(
    private readonly method: string,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (response: Response) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    if (signal?.aborted) this.reason = reasonOf(signal);
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.reason = reasonOf(this.signal!);
    this.abort?.(this.reason);
  };

  private done(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  private answer(response: Response): void {
    this.settled = true;
    this.resolve(response);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.reason) abort(this.reason);
    else this.abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    const headers = answerHeaders(raw);
    this.status = statusCode;
    if (NULL_BODY.has(statusCode) || this.method === 'HEAD') {
      this.discard = true;
      this.answer(new Response(null, { status: statusCode, headers }));
      return true;
    }
    if (!(headers.get('content-type') ?? '').toLowerCase().includes('text/event-stream')) {
      this.headers = headers;
      return true;
    }
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.stream = controller;
        },
        pull: () => resume(),
        cancel: (reason) => {
          this.stream = undefined;
          this.done();
          this.abort?.(reason instanceof Error ? reason : undefined);
        },
      },
      { highWaterMark: 16 },
    );
    this.answer(new Response(body, { status: statusCode, headers }));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discard) return true;
    if (this.headers !== undefined) {
      this.chunks.push(chunk);
      this.length += chunk.length;
      return true;
    }
    // Once the stream is closed, errored or cancelled, the socket's late bytes are not its business.
    const stream = this.stream;
    if (stream === undefined) return true;
    stream.enqueue(bytesOf(chunk));
    return (stream.desiredSize ?? 1) > 0;
  }

  onComplete(): void {
    this.done();
    if (this.headers !== undefined) {
      const { chunks, length } = this;
      this.answer(new Response(length === 0 ? null : wholeStream(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)), { status: this.status, headers: this.headers }));
      return;
    }
    this.stream?.close();
    this.stream = undefined;
  }

  onError(err: Error): void {
    this.done();
    if (!this.settled && this.headers !== undefined) {
      this.answer(new Response(cutStream(this.chunks, err), { status: this.status, headers: this.headers }));
      return;
    }
    if (!this.settled) {
      this.settled = true;
      this.reject(err);
      return;
    }
    this.stream?.error(err);
    this.stream = undefined;
  }
}

/** Why the call was given up: the signal's reason, as undici's `request()` gives it. */
function reasonOf(signal: AbortSignal): Error {
  return (signal.reason ?? new DOMException('This operation was aborted', 'AbortError')) as Error;
}

/**
 * Creates the gateway's upstream: a pool of keep-alive connections per provider origin, made on
 * first use. A stream (`text/event-stream`) is handed on as it arrives; any other answer is read
 * whole before it is handed on.
 */
export function createUpstream(): Upstream {
  const pools = new Map<string, Pool>();
  const poolFor = (origin: string): Pool => {
    let pool = pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin);
      pools.set(origin, pool);
    }
    return pool;
  };

  async function upstreamFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : new URL(input.url);
    let body = init.body ?? undefined;
    if (body instanceof ReadableStream) {
      // Not sent by the gateway (it reads the caller's body whole); kept for a complete fetch.
      const { Readable } = await import('node:stream');
      body = Readable.fromWeb(body as NodeReadableStream) as unknown as BodyInit;
    }
    const method = init.method ?? 'GET';
    const signal = init.signal ?? undefined;
    return new Promise<Response>((resolve, reject) => {
      const call = new UpstreamCall(method, signal, resolve, reject);
      poolFor(url.origin).dispatch(
        { method: method as Dispatcher.HttpMethod, path: url.pathname + url.search, headers: flatHeaders(init.headers), body: body as Dispatcher.DispatchOptions['body'] },
        call,
      );
    });
  }

  return {
    fetch: upstreamFetch,
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.destroy()));
      pools.clear();
    },
  };
}
