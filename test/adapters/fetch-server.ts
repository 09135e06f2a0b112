import { createAdaptorServer } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

/**
 * Serves a fetch handler (`(request) => Response`) on 127.0.0.1 through @hono/node-server, which
 * turns each Node request into a real `Request` and streams the returned `Response` to the socket.
 * `overrideGlobalObjects` as in `serve()`: Hono apps get node-server's light `Response`; other
 * frameworks' handlers are tested with the platform's own.
 */
export async function serveFetch(
  fetch: (request: Request) => Response | Promise<Response>,
  options: { overrideGlobalObjects?: boolean } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createAdaptorServer({ fetch, overrideGlobalObjects: options.overrideGlobalObjects ?? true }) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
