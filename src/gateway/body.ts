import type { IncomingMessage } from 'node:http';

/** The request body, read whole; or why it was refused. */
export type ReadBody = { ok: true; bytes: Buffer | undefined } | { ok: false; status: 413; length: number };

/**
 * Reads the body up to `maxBytes`. A declared `content-length` over the limit is refused before a
 * byte is read; a body that grows past it is refused as soon as it does, without reading the rest.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<ReadBody> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) return Promise.resolve({ ok: false, status: 413, length: declared });
  if (declared === 0) return Promise.resolve({ ok: true, bytes: undefined });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        resolve({ ok: false, status: 413, length: size });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve({ ok: true, bytes: size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) }));
    req.once('error', reject);
  });
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
