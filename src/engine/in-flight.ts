/** The calls an engine has in flight, so that `close()` can wait for them and settle what is left. */

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
   * Waits until every call has finished or `timeoutMs` has passed, then cuts off what is left.
   * Resolves once all are settled.
   */
  drain(timeoutMs: number): Promise<void>;
}

export function inFlightCalls(): InFlightCalls {
  const calls = new Map<InFlightCall, Promise<void>>();
  return {
    get size() {
      return calls.size;
    },
    open() {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      const call: InFlightCall = {
        cutOff: undefined,
        finish() {
          if (!calls.delete(call)) return;
          resolve();
        },
      };
      calls.set(call, done);
      return call;
    },
    async drain(timeoutMs) {
      if (calls.size > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
        // New calls are refused once closing, so this set only shrinks.
        const all = (async () => {
          while (calls.size > 0) await Promise.all([...calls.values()]);
        })();
        await Promise.race([all, timeout]);
        clearTimeout(timer);
      }
      const left = [...calls.keys()];
      await Promise.all(left.map((call) => (call.cutOff ? call.cutOff().catch(() => {}) : undefined)));
      for (const call of left) call.finish();
    },
  };
}
