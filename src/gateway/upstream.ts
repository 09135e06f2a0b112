/**
 * The gateway's hop to the provider: one undici `Pool` per provider origin and `request()` on it,
 * in place of the global `fetch` (which builds a WHATWG `Request`, its `AbortSignal` and a body
 * stream per call, and writes a string body in several writes). The engine still sees a `fetch`:
 * this answers with a `Response`, so embedded mode, which keeps the global `fetch` on every
 * runtime, and the gateway share one engine. Node only: the gateway is its only user.
 */
import { Pool } from 'undici';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Dispatcher } from 'undici';

/** What {@link createUpstream} gives the gateway. */
export interface Upstream {
  /** A `fetch` for the engine's `fetch` option. Never follows a redirect (undici's `request` does not). */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /** Ends every pool and its connections (at shutdown, once the engine has settled its calls). */
  close(): Promise<void>;
}

type Body = Dispatcher.ResponseData['body'];

function flatHeaders(headers: HeadersInit | undefined): string[] {
  const flat: string[] = [];
  if (headers === undefined) return flat;
  if (headers instanceof Headers) headers.forEach((value, name) => flat.push(name, value));
  else if (Array.isArray(headers)) for (const [name, value] of headers) flat.push(name!, value!);
  else for (const name in headers) flat.push(name, headers[name]!);
  return flat;
}

function answerHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const one of value) headers.append(name, one);
    else headers.append(name, value);
  }
  return headers;
}

const bytesOf = (chunk: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.byteLength);

/**
 * The body as a web stream that follows the socket: read as it comes, paused while the reader
 * is behind, destroyed (which ends the provider's side) when the reader cancels.
 */
function streamOf(body: Body): ReadableStream<Uint8Array> {
  // Once the stream is closed, errored or cancelled, the socket's late events are not its business.
  let open = true;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        body.on('data', (chunk: Buffer) => {
          if (!open) return;
          controller.enqueue(bytesOf(chunk));
          if ((controller.desiredSize ?? 1) <= 0) body.pause();
        });
        body.once('end', () => {
          if (open) controller.close();
          open = false;
        });
        body.once('error', (err) => {
          if (open) controller.error(err);
          open = false;
        });
      },
      pull() {
        body.resume();
      },
      cancel(reason) {
        open = false;
        body.destroy(reason instanceof Error ? reason : undefined);
      },
    },
    { highWaterMark: 16 },
  );
}

/**
 * Reads a whole answer in Node (no web stream in the common case). A body that breaks off is
 * given as a stream of what came, then its error, so that the engine sees a cut answer as it
 * would from `fetch` (billed by the provider, never sent again).
 */
function readWhole(body: Body): Promise<BodyInit | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
    };
    body.on('data', onData);
    body.once('end', () => resolve(length === 0 ? null : chunks.length === 1 ? bytesOf(chunks[0]!) : bytesOf(Buffer.concat(chunks, length))));
    body.once('error', (err) => {
      body.off('data', onData);
      resolve(
        new ReadableStream<Uint8Array>({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(bytesOf(chunk));
            controller.error(err);
          },
        }),
      );
    });
  });
}

/** Statuses that carry no body, which `new Response` refuses one for. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

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
    const answer = await poolFor(url.origin).request({
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
      path: url.pathname + url.search,
      headers: flatHeaders(init.headers),
      body: body as Dispatcher.DispatchOptions['body'],
      signal: init.signal ?? undefined,
    });
    const headers = answerHeaders(answer.headers);
    const status = answer.statusCode;
    if (NULL_BODY.has(status) || init.method === 'HEAD') {
      answer.body.resume();
      return new Response(null, { status, headers });
    }
    const type = headers.get('content-type') ?? '';
    const stream = type.toLowerCase().includes('text/event-stream');
    return new Response(stream ? streamOf(answer.body) : await readWhole(answer.body), { status, headers });
  }

  return {
    fetch: upstreamFetch,
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.destroy()));
      pools.clear();
    },
  };
}
