/** Cancelling streamed answers on which nothing moves, so that a stalled stream cannot hold its reservation. */

/** The error a reader gets from a stream cancelled for idleness. */
export class StreamIdleError extends Error {
  override name = 'StreamIdleError';
  constructor(readonly idleMs: number) {
    super(
      `tokenlay: the streamed answer stopped moving: no data from the provider or to the caller for ${idleMs} ms (streamIdleTimeout), ` +
        'so it was cancelled and settled for what was delivered. Read streams as they arrive, or raise streamIdleTimeout if the provider pauses longer.',
    );
  }
}

/**
 * Passes `source` through, and cancels it when no byte moves for `idleMs`: neither a chunk from
 * upstream nor a read by the caller. The caller's reader then fails with a {@link StreamIdleError}
 * and `source` is cancelled (which settles the call). Reads only as the caller reads.
 */
export function cancelWhenIdle(source: ReadableStream<Uint8Array>, idleMs: number): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let finished = false;
  let out: ReadableStreamDefaultController<Uint8Array>;
  const stop = () => {
    finished = true;
    clearTimeout(timer);
  };
  const idle = () => {
    if (finished) return;
    stop();
    const error = new StreamIdleError(idleMs);
    out.error(error);
    reader.cancel(error).catch(() => {});
  };
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(idle, idleMs);
    // A stalled stream must not keep the process alive on its own.
    timer.unref?.();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        out = controller;
        arm();
      },
      async pull(controller) {
        arm();
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          stop();
          throw error;
        }
        if (finished) return;
        if (next.done) {
          stop();
          controller.close();
          return;
        }
        arm();
        controller.enqueue(next.value);
      },
      cancel(reason) {
        stop();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
