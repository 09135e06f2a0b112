import { IncomingMessage, ServerResponse } from 'node:http';
import { currentScope, runWithScope, type Scope } from './context.js';

type Listener = (...args: any[]) => any;
type AddListener = (this: any, event: string | symbol, listener: Listener) => any;
const kPatched = Symbol.for('tokenlay.httpListeners');

/**
 * The events through which an app continues a request from outside its async chain: the socket
 * emits them. A request body is read on `data`/`end`/`readable` (body parsers, multipart, `pipe`),
 * a reader gives up on `error`/`close`/`aborted`; a response is continued on `drain` (a streamed
 * body waiting on backpressure) and followed up on `finish`/`close`/`error`. Listeners for any
 * other event (`pipe`, `unpipe`, `prefinish`, `socket`, …) are added as they are: wrapping them
 * would cost every request and protect no call.
 */
const REQUEST_EVENTS = new Set<string | symbol>(['data', 'end', 'readable', 'error', 'close', 'aborted']);
const RESPONSE_EVENTS = new Set<string | symbol>(['drain', 'finish', 'close', 'error']);

// The wrappers are made by returning a function expression, never by naming one: the build keeps
// function names (keepNames), and naming a closure costs an Object.defineProperty per listener.
function inScope(scope: Scope, listener: Listener): Listener {
  return function (this: unknown, ...args: unknown[]) {
    return runWithScope(scope, () => listener.apply(this, args));
  };
}

function wrap(scope: Scope, listener: Listener): Listener {
  const wrapped = inScope(scope, listener);
  // `EventEmitter` matches `removeListener(original)` and unwraps `listeners()` through `.listener`.
  (wrapped as any).listener = listener;
  return wrapped;
}

function onceInScope(emitter: any, event: string | symbol, scope: Scope, listener: Listener): Listener {
  const self = { wrapped: undefined as unknown as Listener };
  self.wrapped = (...args: unknown[]) => {
    emitter.removeListener(event, self.wrapped);
    return runWithScope(scope, () => listener.apply(emitter, args));
  };
  (self.wrapped as any).listener = listener;
  return self.wrapped;
}

function persistent(add: AddListener, events: Set<string | symbol>): AddListener {
  return function tokenlayOn(event, listener) {
    const scope = events.has(event) ? currentScope() : undefined;
    return add.call(this, event, scope && typeof listener === 'function' ? wrap(scope, listener) : listener);
  };
}

// `once` is rebuilt on `on`, so that one wrapper carries `.listener = original`: the stock
// `once` would wrap our wrapper, and `removeListener(original)` would no longer find it.
function single(add: AddListener, stock: AddListener, events: Set<string | symbol>): AddListener {
  return function tokenlayOnce(event, listener) {
    const scope = events.has(event) ? currentScope() : undefined;
    if (!scope || typeof listener !== 'function') return stock.call(this, event, listener);
    return add.call(this, event, onceInScope(this, event, scope, listener));
  };
}

/**
 * @internal Makes a listener added to an incoming request or its response, for an event the
 * socket emits (`REQUEST_EVENTS`, `RESPONSE_EVENTS`), run in the scope it was added in. A
 * request's stream emits `data` and `end` from the socket's context, which belongs to no request,
 * so a body reader mounted after `tokenlay()` would otherwise continue the request outside its
 * scope; likewise a streamed response resumed on `drain`, or work started on `finish`. Installed
 * once, on first use of an adapter; a listener added outside any scope is left exactly as it was.
 * Patching the prototypes, rather than each request, keeps the per-request cost at nothing: a
 * property written on a live request object costs microseconds.
 */
export function bindHttpListeners(): void {
  for (const [proto, events] of [
    [IncomingMessage.prototype, REQUEST_EVENTS],
    [ServerResponse.prototype, RESPONSE_EVENTS],
  ] as Array<[any, Set<string | symbol>]>) {
    if (Object.hasOwn(proto, kPatched)) continue;
    const on: AddListener = proto.on;
    const prepend: AddListener = proto.prependListener;
    const onceStock: AddListener = proto.once;
    const prependOnceStock: AddListener = proto.prependOnceListener;
    Object.defineProperties(proto, {
      [kPatched]: { value: true },
      on: { value: persistent(on, events), writable: true, configurable: true },
      addListener: { value: persistent(on, events), writable: true, configurable: true },
      prependListener: { value: persistent(prepend, events), writable: true, configurable: true },
      once: { value: single(on, onceStock, events), writable: true, configurable: true },
      prependOnceListener: { value: single(prepend, prependOnceStock, events), writable: true, configurable: true },
    });
  }
}
