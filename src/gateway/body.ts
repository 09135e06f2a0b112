import type { IncomingMessage } from 'node:http';

/** The request body, read whole; or why it was refused: too large, too slow in all, or silent too long. */
export type ReadBody =
  | { ok: true; bytes: Buffer | undefined }
  | { ok: false; status: 413; length: number }
  | { ok: false; status: 408; timeout: 'body' | 'idle'; length: number };

/** Limits of {@link readBody}; a time of 0 means none. */
export interface BodyLimits {
  maxBytes: number;
  /** ms for the whole body, from the first read. */
  bodyTimeoutMs: number;
  /** ms the client may send nothing while the body is not yet whole. */
  idleTimeoutMs: number;
}

/**
 * Reads the body up to `maxBytes`. A declared `content-length` over the limit is refused before a
 * byte is read; a body that grows past it is refused as soon as it does, without reading the rest.
 * A client that drips its body, or stops sending, is refused at the body or idle timeout instead of
 * holding a socket (and a slot) for as long as it likes.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<ReadBody> {
  const { maxBytes } = limits;
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) return Promise.resolve({ ok: false, status: 413, length: declared });
  if (declared === 0 || req.readableEnded) return Promise.resolve({ ok: true, bytes: undefined });
  // Most bodies arrive with their headers: by the time the call is authenticated, the whole of it
  // is in the stream's buffer, and taken at once, without the timers and listeners a body still on
  // its way needs. (`complete` comes a turn later than the bytes of a body with a declared length.)
  if (!req.readableFlowing && (req.complete || (declared > 0 && req.readableLength >= declared))) return Promise.resolve(takeBuffered(req, maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let idle: NodeJS.Timeout | undefined;
    const stop = (result: ReadBody) => {
      clearTimeout(whole);
      clearTimeout(idle);
      req.off('data', onData);
      req.pause();
      resolve(result);
    };
    const whole = limits.bodyTimeoutMs > 0 ? setTimeout(() => stop({ ok: false, status: 408, timeout: 'body', length: size }), limits.bodyTimeoutMs) : undefined;
    const armIdle = () => {
      if (limits.idleTimeoutMs <= 0) return;
      clearTimeout(idle);
      idle = setTimeout(() => stop({ ok: false, status: 408, timeout: 'idle', length: size }), limits.idleTimeoutMs);
    };
    const onData = (chunk: Buffer) => {
      armIdle();
      size += chunk.length;
      if (size > maxBytes) return stop({ ok: false, status: 413, length: size });
      chunks.push(chunk);
    };
    armIdle();
    req.on('data', onData);
    req.once('end', () => {
      clearTimeout(whole);
      clearTimeout(idle);
      resolve({ ok: true, bytes: size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) });
    });
    req.once('error', (err) => {
      clearTimeout(whole);
      clearTimeout(idle);
      reject(err);
    });
  });
}

function takeBuffered(req: IncomingMessage, maxBytes: number): ReadBody {
  const chunks: Buffer[] = [];
  let size = 0;
  for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) {
    size += chunk.length;
    if (size > maxBytes) return { ok: false, status: 413, length: size };
    chunks.push(chunk);
  }
  return { ok: true, bytes: size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) };
}

/** Whether a body with this content type is JSON the engine reads (an absent type counts, as SDKs send JSON). */
export function isJsonType(contentType: string | undefined): boolean {
  return contentType === undefined || contentType.includes('json');
}

/** A short reason why `text` is not JSON, e.g. `Unexpected token } in JSON at position 12`. */
export function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return (err as Error).message.slice(0, 200);
  }
}
