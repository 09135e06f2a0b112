import { IncomingMessage, ServerResponse } from 'node:http';
import { currentScope, runWithScope, type Scope } from './context.js';

type Listener = (...args: any[]) => any;
type AddListener = (this: any, event: string | symbol, listener: Listener) => any;
const kPatched = Symbol.for('tokenlay.httpListeners');

function wrap(scope: Scope, listener: Listener): Listener {
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return runWithScope(scope, () => listener.apply(this, args));
  };
  // `EventEmitter` matches `removeListener(original)` and unwraps `listeners()` through `.listener`.
  (wrapped as any).listener = listener;
  return wrapped;
}

function persistent(add: AddListener): AddListener {
  return function tokenlayOn(event, listener) {
    const scope = currentScope();
    return add.call(this, event, scope && typeof listener === 'function' ? wrap(scope, listener) : listener);
  };
}

// `once` is rebuilt on `on`, so that one wrapper carries `.listener = original`: the stock
// `once` would wrap our wrapper, and `removeListener(original)` would no longer find it.
function single(add: AddListener, stock: AddListener): AddListener {
  return function tokenlayOnce(event, listener) {
    const scope = currentScope();
    if (!scope || typeof listener !== 'function') return stock.call(this, event, listener);
    const wrapped = (...args: unknown[]) => {
      this.removeListener(event, wrapped);
      return runWithScope(scope, () => listener.apply(this, args));
    };
    (wrapped as any).listener = listener;
    return add.call(this, event, wrapped);
  };
}

/**
 * @internal Makes a listener added to an incoming request or its response run in the scope it was
 * added in. A request's stream emits `data` and `end` from the socket's context, which belongs to
 * no request, so a body reader mounted after `tokenlay()` would otherwise continue the request
 * outside its scope. Installed once, on first use of an adapter; a listener added outside any
 * scope is left exactly as it was. Patching the prototypes, rather than each request, keeps the
 * per-request cost at nothing: a property written on a live request object costs microseconds.
 */
export function bindHttpListeners(): void {
  for (const proto of [IncomingMessage.prototype, ServerResponse.prototype] as any[]) {
    if (Object.hasOwn(proto, kPatched)) continue;
    const on: AddListener = proto.on;
    const prepend: AddListener = proto.prependListener;
    const onceStock: AddListener = proto.once;
    const prependOnceStock: AddListener = proto.prependOnceListener;
    Object.defineProperties(proto, {
      [kPatched]: { value: true },
      on: { value: persistent(on), writable: true, configurable: true },
      addListener: { value: persistent(on), writable: true, configurable: true },
      prependListener: { value: persistent(prepend), writable: true, configurable: true },
      once: { value: single(on, onceStock), writable: true, configurable: true },
      prependOnceListener: { value: single(prepend, prependOnceStock), writable: true, configurable: true },
    });
  }
}
