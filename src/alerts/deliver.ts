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
    try {
      const res = await opts.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'tokenlay-alerts' },
        body: JSON.stringify(body),
        signal: AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return undefined;
      failure = `answered ${res.status}`;
      // A 4xx other than 429 will not change on a retry: the URL or the body is wrong.
      if (res.status < 500 && res.status !== 429) return failure;
    } catch (err) {
      const name = (err as Error).name;
      if (opts.signal.aborted) failure = 'stopped when the engine closed';
      else failure = name === 'TimeoutError' ? `no answer in ${opts.timeoutMs} ms` : `unreachable (${(err as Error).message})`;
    }
    if (attempt < opts.attempts) await sleep(opts.backoffMs * 2 ** (attempt - 1), opts.signal);
  }
  return failure;
}
