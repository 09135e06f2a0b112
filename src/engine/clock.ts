/** The engine's clock for waits: what a queued call and a failed settlement sleep on. */

/** Waits `ms` on real timers; rejects with the signal's reason when `signal` aborts first. */
export function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A wait of `total` ms on the engine's clock, in steps: over once `now()` has moved `total` past
 * its start, or once the steps slept add up to it (a clock that stands still, as a test's fixed
 * `now`, still ends it).
 */
export class Waited {
  private readonly started: number;
  private slept = 0;

  constructor(
    private readonly now: () => number,
    private readonly total: number,
  ) {
    this.started = now();
  }

  /** ms since the start, on the engine's clock. */
  get elapsed(): number {
    return this.now() - this.started;
  }

  /** ms waited so far: on the engine's clock, or what was slept when that clock moved less. */
  get waited(): number {
    return Math.max(this.elapsed, this.slept);
  }

  /** ms left before the wait is over. */
  get left(): number {
    return this.total - this.waited;
  }

  /** Sleeps `ms` (at most what is left, at least 1 ms) with `sleep`. */
  async step(sleep: (ms: number, signal?: AbortSignal) => Promise<void>, ms: number, signal?: AbortSignal): Promise<void> {
    const wait = Math.min(ms, Math.max(1, this.left));
    this.slept += wait;
    await sleep(wait, signal);
  }
}
