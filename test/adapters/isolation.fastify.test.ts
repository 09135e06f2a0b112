import Fastify5, { type FastifyInstance, type FastifyRequest } from 'fastify';
import Fastify4 from 'fastify4';
import jwt5 from '@fastify/jwt';
import jwt4 from 'fastify-jwt-v8';
import multipart5 from '@fastify/multipart';
import multipart4 from 'fastify-multipart-v8';
import { tokenlay } from '../../adapters/fastify.js';
import { SECRET } from './helpers.js';
import { isolationSuite, type IsolationCase, type Kit } from './isolation.js';

function cases(Fastify: typeof Fastify5, jwt: typeof jwt5, multipart: typeof multipart5): IsolationCase[] {
  const start = async (kit: Kit, authFirst: boolean) => {
    const app: FastifyInstance = Fastify();
    const verify = async (request: FastifyRequest) => {
      await request.jwtVerify();
    };
    const plugin = () => app.register(tokenlay, { onFinish: (usage, request) => kit.onFinish(usage, request.headers['x-job']) });
    await app.register(jwt, { secret: SECRET });
    await app.register(multipart);
    if (authFirst) {
      app.addHook('onRequest', verify);
      await plugin();
    } else {
      await plugin();
      app.addHook('preValidation', verify);
    }
    app.post('/chat', async (request) => {
      await kit.work(request.body as any);
      return { usage: request.tokenlay };
    });
    app.post('/upload', async (request) => {
      const file = await request.file();
      await file!.toBuffer();
      await kit.work(JSON.parse((file!.fields.job as any).value));
      return { usage: request.tokenlay };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, close: () => app.close() };
  };
  return [
    { name: '@fastify/jwt (onRequest) before tokenlay, JSON and @fastify/multipart', also: ['multipart'], start: (kit) => start(kit, true) },
    { name: '@fastify/jwt (preValidation) after tokenlay, JSON and @fastify/multipart', also: ['multipart'], start: (kit) => start(kit, false) },
  ];
}

isolationSuite('Fastify 5', cases(Fastify5, jwt5, multipart5));
isolationSuite('Fastify 4', cases(Fastify4 as unknown as typeof Fastify5, jwt4 as unknown as typeof jwt5, multipart4 as unknown as typeof multipart5));
