/**
 * What binding request and response listeners protects, on a bare Node server with the Express
 * middleware: the socket emits a request's `data`/`end` and a response's `drain`/`finish` from
 * outside every request, so an app that continues a request from one of them (a body reader, a
 * streamed body waiting on backpressure, work after the response) must still find its scope.
 * Listeners for other events, and any listener added outside a scope, stay exactly as they were.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { getTokenlayContext } from '../../src/index.js';
import { tokenlay } from '../../adapters/express.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

/**
 * A bare server whose every request runs `tokenlay()` (user from `x-user`), then `handler` in the
 * scope, then `after` once the middleware has returned: outside the scope, as Koa writes a body.
 */
async function serve(handler: Handler, after?: Handler): Promise<string> {
  const mw = tokenlay({ identify: (req) => ({ user: req.headers['x-user'] as string }) });
  const server = createServer((req, res) => {
    mw(req, res, () => handler(req, res));
    after?.(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const user = () => getTokenlayContext()?.user ?? 'nobody';

describe('request and response listeners', () => {
  it("runs a body reader's data and end listeners in the request's scope, with the body fed slowly from the socket", async () => {
    const url = await serve((req, res) => {
      const seen: string[] = [];
      req.on('data', () => seen.push(user()));
      req.once('end', () => res.end(JSON.stringify({ data: [...new Set(seen)], end: user() })));
    });
    const answer = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', headers: { 'x-user': 'slow-sam', 'content-length': 2000 } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.flushHeaders();
      // Stays on the wall clock: the body's pieces arrive apart in time, each a 'data' event of its own.
      setTimeout(() => req.write('x'.repeat(1000)), 20);
      setTimeout(() => req.end('y'.repeat(1000)), 50);
    });
    expect(JSON.parse(answer)).toEqual({ data: ['slow-sam'], end: 'slow-sam' });
  });

  it("continues a response from drain and finish in the request's scope when the body is written from outside it", async () => {
    let afterFinish: string | undefined;
    let full: boolean | undefined;
    const url = await serve(
      (_req, res) => {
        res.once('finish', () => (afterFinish = user()));
        res.once('drain', () => res.end(`|drain:${user()}`));
      },
      // Far over the response's buffer, from outside the scope: the rest waits for the socket's drain.
      (_req, res) => (full = res.write(Buffer.alloc(4 * 1024 * 1024, 'a'))),
    );
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(url, { headers: { 'x-user': 'drain-dora' } }, (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        // Stays on the wall clock: a client slow to read, so that the server's write waits for 'drain'.
        setTimeout(() => res.resume(), 100);
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      });
      req.on('error', reject);
      req.end();
    });
    expect(full).toBe(false);
    expect(text.slice(-'|drain:drain-dora'.length)).toBe('|drain:drain-dora');
    // 'finish' comes on the server once the last bytes are handed to the socket, which may be after the client read them.
    await expect.poll(() => afterFinish, { timeout: 10_000, interval: 5 }).toBeDefined();
    expect(afterFinish).toBe('drain-dora');
  });

  it('wraps only listeners for the events the socket emits, added in a scope, and unwraps them for listeners() and removeListener()', async () => {
    const found: Record<string, unknown> = {};
    const url = await serve((req, res) => {
      const onEnd = () => undefined;
      const onPipe = () => undefined;
      const onPrefinish = () => undefined;
      req.on('end', onEnd);
      req.on('pipe', onPipe);
      res.on('prefinish', onPrefinish);
      found.endWrapped = req.rawListeners('end').some((l) => l !== onEnd && (l as any).listener === onEnd);
      found.endListed = req.listeners('end').includes(onEnd);
      found.pipeAsIs = req.rawListeners('pipe').includes(onPipe);
      found.prefinishAsIs = res.rawListeners('prefinish').includes(onPrefinish);
      req.removeListener('end', onEnd);
      found.endRemoved = !req.rawListeners('end').some((l) => l === onEnd || (l as any).listener === onEnd);
      res.end('ok');
    });
    const outside = () => undefined;
    const res = await fetch(url, { headers: { 'x-user': 'u' } });
    expect(await res.text()).toBe('ok');
    expect(found).toEqual({ endWrapped: true, endListed: true, pipeAsIs: true, prefinishAsIs: true, endRemoved: true });

    // Outside any scope, nothing is wrapped, even for `end`.
    const { IncomingMessage } = await import('node:http');
    const { Socket } = await import('node:net');
    const bare = new IncomingMessage(new Socket());
    bare.on('end', outside);
    expect(bare.rawListeners('end')).toEqual([outside]);
  });
});
