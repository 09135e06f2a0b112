/** A caller who leaves a call in flight: it gets its abort at once, and the call goes on to be settled. */

/**
 * Gives the caller its abort as soon as it leaves, while `running` goes on without it: a JSON
 * call is read to its end and settled at the usage the provider reports. `track` keeps it in
 * what `flush()` waits for.
 */
export function untilCallerLeaves<T>(running: Promise<T>, signal: AbortSignal, track: (p: Promise<unknown>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      track(running);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    running.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
