import type { ServerResponse } from 'node:http';
import { callerHeaders } from './answer-headers.js';

/**
 * Waits until the client has taken what was written (`drain`, or `finish` for the last bytes). A
 * client that reads nothing for `clientIdleMs` (> 0) is cut off: its socket is destroyed, which
 * cancels the provider's stream, and the engine settles what was delivered.
 */
function drained(res: ServerResponse, clientIdleMs: number, event: 'drain' | 'finish'): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = clientIdleMs > 0 ? setTimeout(() => res.destroy(), clientIdleMs) : undefined;
    const go = () => {
      clearTimeout(timer);
      res.off(event, go);
      res.off('close', go);
      resolve();
    };
    res.on(event, go);
    res.on('close', go);
  });
}

function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').includes('text/event-stream');
}

/**
 * Writes the engine's answer to the caller, with only the headers of {@link callerHeaders}. A JSON (or any non-stream) answer is sent with its
 * length; a stream is passed through chunk by chunk as it arrives, never buffered, with the
 * socket's backpressure respected. When the caller goes away the stream is cancelled, which the
 * engine settles for what was delivered; a client that takes nothing for `clientIdleMs` is cut off
 * the same way. With `idleTimeoutMs` > 0, a stream that sends nothing for
 * that long is cut: the caller gets an SSE comment saying so, the provider's stream is cancelled.
 */
export async function writeAnswer(res: ServerResponse, response: Response, idleTimeoutMs: number, clientIdleMs = 0): Promise<void> {
  const headers = callerHeaders(response);
  if (!response.body || !isEventStream(response)) {
    const bytes = response.body ? Buffer.from(await response.arrayBuffer()) : Buffer.alloc(0);
    headers['content-length'] = String(bytes.length);
    res.writeHead(response.status, headers);
    res.end(bytes);
    if (!res.writableFinished) await drained(res, clientIdleMs, 'finish');
    return;
  }
  res.writeHead(response.status, headers);
  res.flushHeaders();
  const reader = response.body.getReader();
  const onClose = () => void reader.cancel().catch(() => {});
  res.once('close', onClose);
  let idle: NodeJS.Timeout | undefined;
  let idled = false;
  const arm = () => {
    if (idleTimeoutMs <= 0) return;
    clearTimeout(idle);
    idle = setTimeout(() => {
      idled = true;
      void reader.cancel().catch(() => {});
    }, idleTimeoutMs);
  };
  try {
    arm();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arm();
      if (!res.write(value) && !res.destroyed) await drained(res, clientIdleMs, 'drain');
      if (res.destroyed) break;
    }
    if (idled && !res.destroyed) res.write(`: tokenlay: the provider sent nothing for ${idleTimeoutMs} ms; the stream was ended\n\n`);
  } catch {
    // The provider's stream broke mid-way; the engine settled what was delivered.
  } finally {
    clearTimeout(idle);
    res.off('close', onClose);
    if (!res.destroyed) res.end();
  }
}
