import type { Readable } from 'node:stream';
import { runWithScope, type Scope } from './context.js';

// Closures here are returned rather than named: the build keeps function names (keepNames), and
// a named closure costs an Object.defineProperty for every body.
function atMostOnce(fn: (() => void) | undefined): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    fn?.();
  };
}

function readInScope(scope: Scope, read: Readable['_read']): Readable['_read'] {
  return function (this: Readable, size: number) {
    return runWithScope(scope, () => read.call(this, size));
  };
}

/**
 * @internal A stream that reads `source` from inside `scope`. A server consumes a response body
 * after the handler has returned, from its own async context, and a lazy body (a `pull`, or an
 * async generator behind `ReadableStream.from`) makes its LLM calls when it is read: each read of
 * the source is therefore made in the request's scope. `onDone` runs once, when the body has been
 * read to its end, has failed, or was cancelled (the client went away).
 */
export function scopeWebStream<T>(source: ReadableStream<T>, scope: Scope, onDone?: () => void): ReadableStream<T> {
  const reader = source.getReader();
  const done = atMostOnce(onDone);
  return new ReadableStream<T>(
    {
      pull(controller) {
        return runWithScope(scope, () => reader.read()).then(
          (chunk) => {
            if (chunk.done) {
              controller.close();
              done();
            } else controller.enqueue(chunk.value);
          },
          (err) => {
            controller.error(err);
            done();
          },
        );
      },
      cancel(reason) {
        done();
        return runWithScope(scope, () => reader.cancel(reason));
      },
    },
    // No read-ahead: the source is read only when the server asks for more, as it would be unwrapped.
    { highWaterMark: 0 },
  );
}

/**
 * @internal `response` with its body read in `scope` (see {@link scopeWebStream}). A response with
 * no body, or one whose body is already being read, is returned as it is and counts as done.
 */
export function scopeResponse(response: Response, scope: Scope, onDone?: () => void): Response {
  const body = response.body;
  if (!body || body.locked) {
    onDone?.();
    return response;
  }
  return new Response(scopeWebStream(body, scope, onDone), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

const kScopedRead = Symbol.for('tokenlay.scopedRead');

/**
 * @internal Makes a Node `Readable` produce its data in `scope`: `_read` runs whenever the consumer
 * (a `pipe` started by the framework after the handler returned) wants more, so a body made by an
 * async generator (`Readable.from`) would otherwise make its calls outside the request.
 * Patches this one instance.
 */
export function scopeNodeReadable(stream: Readable, scope: Scope): void {
  const target = stream as Readable & { [kScopedRead]?: true };
  if (target[kScopedRead] || typeof target._read !== 'function') return;
  target[kScopedRead] = true;
  const read = target._read;
  target._read = readInScope(scope, read);
}
