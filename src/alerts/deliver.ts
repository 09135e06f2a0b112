/** How an alert is posted. Times in ms. */
export interface DeliveryOptions {
  /** Tries in all, the first included. Default 4. */
  attempts: number;
  /** Wait before the second try; doubled each time after. Default 500. */
  backoffMs: number;
  /** Longest one try may take. Default 5000. */
  timeoutMs: number;
  fetch: typeof fetch;
  /** Stops retries (on close). */
  signal: AbortSignal;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Posts a JSON body, retrying on network errors, timeouts, 429 and 5xx with exponential backoff.
 * Resolves with the last failure's description, or undefined once delivered; never rejects.
 */
export async function postWithRetry(url: string, body: unknown, opts: DeliveryOptions): Promise<string | undefined> {
  let failure = 'not tried';
  for (let attempt = 1; attempt <= opts.attempts && !opts.signal.aborted; attempt++) {
    // A controller and a timer of our own, held until the try ends: a signal from
    // AbortSignal.timeout() or AbortSignal.any() that nothing else references can be collected
    // on Node 20 before it fires, and a receiver that never answers would then hold the delivery
    // (and close()) forever.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`no answer in ${opts.timeoutMs} ms`, 'TimeoutError')), opts.timeoutMs);
    const onClose = () => controller.abort(opts.signal.reason);
    opts.signal.addEventListener('abort', onClose, { once: true });
    try {
      const res = await opts.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'tokenlay-alerts' },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return undefined;
      failure = `answered ${res.status}`;
      // A 4xx other than 429 will not change on a retry: the URL or the body is wrong.
      if (res.status < 500 && res.status !== 429) return failure;
    } catch (err) {
      if (opts.signal.aborted) failure = 'stopped when the engine closed';
      else failure = controller.signal.aborted ? `no answer in ${opts.timeoutMs} ms` : `unreachable (${(err as Error).message})`;
    } finally {
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onClose);
    }
    if (attempt < opts.attempts) await sleep(opts.backoffMs * 2 ** (attempt - 1), opts.signal);
  }
  return failure;
}
