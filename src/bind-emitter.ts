import type { EventEmitter } from 'node:events';
import { runWithScope, type Scope } from './context.js';

type Listener = (...args: any[]) => any;
const kScope = Symbol('tokenlay.emitterScope');

function wrap(emitter: any, listener: Listener): Listener {
  const scope: Scope = emitter[kScope];
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return runWithScope(scope, () => listener.apply(this, args));
  };
  // `EventEmitter` matches `removeListener(original)` and unwraps `listeners()` through `.listener`.
  (wrapped as any).listener = listener;
  return wrapped;
}

// `once` is rebuilt on `on`, so that a single wrapper carries `.listener = original`.
function wrapOnce(emitter: any, event: string | symbol, listener: Listener): Listener {
  const scope: Scope = emitter[kScope];
  const wrapped = function (this: unknown, ...args: unknown[]) {
    emitter.removeListener(event, wrapped);
    return runWithScope(scope, () => listener.apply(this, args));
  };
  (wrapped as any).listener = listener;
  return wrapped;
}

// Shared functions, assigned per instance: no closures are made per request.
function on(this: any, event: string | symbol, listener: Listener) {
  const add = Object.getPrototypeOf(this).on;
  return add.call(this, event, typeof listener === 'function' ? wrap(this, listener) : listener);
}
function prependListener(this: any, event: string | symbol, listener: Listener) {
  const add = Object.getPrototypeOf(this).prependListener;
  return add.call(this, event, typeof listener === 'function' ? wrap(this, listener) : listener);
}
function once(this: any, event: string | symbol, listener: Listener) {
  const add = Object.getPrototypeOf(this).on;
  return add.call(this, event, typeof listener === 'function' ? wrapOnce(this, event, listener) : listener);
}
function prependOnceListener(this: any, event: string | symbol, listener: Listener) {
  const add = Object.getPrototypeOf(this).prependListener;
  return add.call(this, event, typeof listener === 'function' ? wrapOnce(this, event, listener) : listener);
}

/**
 * @internal Makes listeners added to `emitter` from now on run in `scope`. A request's stream
 * emits `data` and `end` from the socket's context, which belongs to no request, so a body reader
 * that runs after `tokenlay()` would otherwise continue the request outside its scope. Only this
 * one instance is changed.
 */
export function bindEmitter(emitter: EventEmitter, scope: Scope): void {
  const target = emitter as any;
  if (target[kScope]) return;
  target[kScope] = scope;
  target.on = target.addListener = on;
  target.prependListener = prependListener;
  target.once = once;
  target.prependOnceListener = prependOnceListener;
}
