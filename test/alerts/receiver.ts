import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Received {
  path: string;
  body: any;
  at: number;
}

/** A local webhook receiver on 127.0.0.1 that records each POST; `stall` holds answers back. */
export async function startReceiver(opts: { stall?: boolean; status?: number } = {}) {
  const received: Received[] = [];
  const held: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')), at: Date.now() });
      if (opts.stall) held.push(res);
      else res.writeHead(opts.status ?? 204).end();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    held,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens (a receiver that is down). */
export async function downUrl(): Promise<string> {
  const r = await startReceiver();
  await r.close();
  return r.url;
}
