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

/** A body read to its end, as one buffer (most answers come as one chunk: no copy then). */
async function wholeBody(body: ReadableStream<Uint8Array>): Promise<Buffer> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.byteLength;
  }
  if (chunks.length === 1) return Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength);
  return Buffer.concat(chunks, length);
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
    const bytes = response.body ? await wholeBody(response.body) : Buffer.alloc(0);
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
  // One timer for the whole stream, pushed back at each chunk (refresh() costs less than a new timer).
  const arm = () => {
    if (idleTimeoutMs <= 0) return;
    if (idle) idle.refresh();
    else
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
