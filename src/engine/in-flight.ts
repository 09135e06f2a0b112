/** The calls an engine has in flight, so that `close()` can wait for them and settle what is left. */
import { realSleep } from './clock.js';

/** One call from arrival until it is settled (or refused, or failed before admission). */
export interface InFlightCall {
  /** Settles the call as cut off by shutdown; set once the call has a settlement. */
  cutOff: (() => Promise<void>) | undefined;
  /** Marks the call finished. Idempotent. */
  finish(): void;
}

export interface InFlightCalls {
  /** Registers a call that just arrived. */
  open(): InFlightCall;
  readonly size: number;
  /**
   * Waits until every call has finished or `timeoutMs` has passed on `sleep`'s clock (default
   * real timers), then cuts off what is left. Resolves once all are settled.
   */
  drain(timeoutMs: number, sleep?: (ms: number, signal?: AbortSignal) => Promise<void>): Promise<void>;
}

export function inFlightCalls(): InFlightCalls {
  // A set and one waiter made only while draining: a call in flight costs one set entry, no promise.
  const calls = new Set<InFlightCall>();
  let emptied: (() => void) | undefined;
  return {
    get size() {
      return calls.size;
    },
    open() {
      const call: InFlightCall = {
        cutOff: undefined,
        finish() {
          if (!calls.delete(call)) return;
          if (calls.size === 0) emptied?.();
        },
      };
      calls.add(call);
      return call;
    },
    async drain(timeoutMs, sleep = realSleep) {
      if (calls.size > 0) {
        // New calls are refused once closing, so this set only shrinks.
        const done = new AbortController();
        await Promise.race([new Promise<void>((resolve) => (emptied = resolve)), sleep(timeoutMs, done.signal).catch(() => undefined)]);
        done.abort();
        emptied = undefined;
      }
      const left = [...calls];
      await Promise.all(left.map((call) => (call.cutOff ? call.cutOff().catch(() => {}) : undefined)));
      for (const call of left) call.finish();
    },
  };
}
