import type { EventEmitter } from 'node:events';
import { runWithScope, type Scope } from './context.js';

const kBound = Symbol.for('tokenlay.boundEmitter');
type Listener = (...args: any[]) => any;

/**
 * @internal Makes listeners added to `emitter` run in `scope`. A request's stream emits `data` and
 * `end` from the socket's context, which belongs to no request, so a body parser that runs after
 * `tokenlay()` would otherwise continue the request outside its scope. Patches this one instance
 * only. Each wrapper keeps the original as `.listener`, which is how `EventEmitter` matches
 * `removeListener(original)` and unwraps `listeners()`.
 */
export function bindEmitter(emitter: EventEmitter, scope: Scope): void {
  const target = emitter as any;
  if (target[kBound]) return;
  target[kBound] = true;
  const on = target.on;
  const prepend = target.prependListener;

  const persistent = (add: Listener) =>
    function boundAdd(this: EventEmitter, event: string | symbol, listener: Listener) {
      if (typeof listener !== 'function') return add.call(this, event, listener);
      const wrapped = function (this: unknown, ...args: unknown[]) {
        return runWithScope(scope, () => listener.apply(this, args));
      };
      (wrapped as any).listener = listener;
      return add.call(this, event, wrapped);
    };

  // `once` is rebuilt on `on` so that a single wrapper carries `.listener = original`.
  const single = (add: Listener) =>
    function boundOnce(this: EventEmitter, event: string | symbol, listener: Listener) {
      if (typeof listener !== 'function') return add.call(this, event, listener);
      const wrapped = (...args: unknown[]) => {
        this.removeListener(event, wrapped);
        return runWithScope(scope, () => listener.apply(this, args));
      };
      (wrapped as any).listener = listener;
      return add.call(this, event, wrapped);
    };

  target.on = target.addListener = persistent(on);
  target.prependListener = persistent(prepend);
  target.once = single(on);
  target.prependOnceListener = single(prepend);
}
