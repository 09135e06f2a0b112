/** Load from this process (never the measured one) with autocannon, on 127.0.0.1 only. */
import autocannon from 'autocannon';
import type { Measured } from './child.js';

export interface Sample {
  /** Requests answered per second. */
  rps: number;
  /** Server CPU per request, µs, read from the OS by the server process itself. */
  cpuUs: number;
  requests: number;
}

export interface LoadOptions {
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
}

/** Drives `target` for a bounded time; throws when any answer was an error, so no figure hides failures. */
export async function drive(target: Measured, options: LoadOptions): Promise<Sample> {
  if (!/^http:\/\/127\.0\.0\.1:/.test(target.url)) throw new Error(`refusing to load ${target.url}: benchmarks target 127.0.0.1 only`);
  const before = await target.cpu();
  const result = await autocannon({
    url: target.url,
    connections: options.connections,
    duration: options.durationS,
    headers: options.headers,
  });
  const after = await target.cpu();
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed) throw new Error(`${target.url}: ${failed} failed answers (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx})`);
  const requests = result.requests.total;
  return { rps: requests / result.duration, cpuUs: (after - before) / requests, requests };
}
