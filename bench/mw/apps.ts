/**
 * The apps the middleware benchmark serves: per framework, one per variant, each answering
 * `GET /` with the user read from its request context (the caller's `x-user` header, put there
 * by the variant's middleware). `none` reads the header directly: the baseline.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { shipped } from '../lib/shipped.js';

export const FRAMEWORKS = ['express', 'fastify', 'koa', 'hono'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/** Variants per framework, baseline first, in the order they alternate within a round. */
export const VARIANTS: Record<Framework, string[]> = {
  express: ['none', 'als', 'tokenlay', 'express-http-context', 'cls-rtracer'],
  fastify: ['none', 'als', 'tokenlay', '@fastify/request-context', 'cls-rtracer'],
  koa: ['none', 'als', 'tokenlay', 'koa-als', 'cls-rtracer'],
  hono: ['none', 'als', 'tokenlay', 'hono-context-storage'],
};

export const LABELS: Record<string, string> = {
  none: 'no middleware (baseline)',
  als: 'bare `als.run(store, next)`',
  tokenlay: '`tokenlay()`',
  'express-http-context': 'express-http-context',
  'cls-rtracer': 'cls-rtracer',
  '@fastify/request-context': '@fastify/request-context',
  'koa-als': "Koa's `asyncLocalStorage` option",
  'hono-context-storage': "Hono's `contextStorage()`",
};

export const USER = 'u-bench';
type Start = () => Promise<string>;

const als = new AsyncLocalStorage<{ user: string }>();
const header = (req: IncomingMessage) => req.headers['x-user'] as string;
const { getTokenlayContext } = await shipped('index');
const tokenlayUser = () => getTokenlayContext()?.user as string;

function listenNode(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

async function express(variant: string): Promise<string> {
  const { default: express } = await import('express');
  const app = express();
  let read: (req: IncomingMessage) => string = header;
  if (variant === 'als') {
    app.use((req, _res, next) => als.run({ user: header(req) }, next));
    read = () => als.getStore()!.user;
  } else if (variant === 'tokenlay') {
    const { tokenlay } = await shipped('express');
    app.use(tokenlay({ identify: (req) => ({ user: header(req) }) }));
    read = tokenlayUser;
  } else if (variant === 'express-http-context') {
    const httpContext = (await import('express-http-context')).default;
    app.use((req, res, next) => httpContext.middleware(req, res, () => (httpContext.set('user', header(req)), next())));
    read = () => httpContext.get('user');
  } else if (variant === 'cls-rtracer') {
    const rTracer = (await import('cls-rtracer')).default;
    app.use(rTracer.expressMiddleware({ requestIdFactory: (req: IncomingMessage) => header(req) }));
    read = () => rTracer.id() as string;
  }
  app.get('/', (req, res) => {
    res.send(read(req));
  });
  return listenNode(app);
}

async function fastify(variant: string): Promise<string> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  let read: (req: IncomingMessage & { requestContext?: any }) => string = header;
  if (variant === 'als') {
    app.addHook('onRequest', (req, _reply, done) => als.run({ user: header(req.raw) }, done));
    read = () => als.getStore()!.user;
  } else if (variant === 'tokenlay') {
    const { tokenlay } = await shipped('fastify');
    await app.register(tokenlay, { identify: (req) => ({ user: header(req.raw) }) });
    read = tokenlayUser;
  } else if (variant === '@fastify/request-context') {
    const { fastifyRequestContext, requestContext } = await import('@fastify/request-context');
    await app.register(fastifyRequestContext, { defaultStoreValues: (req) => ({ user: header(req.raw) }) as any });
    read = () => (requestContext as any).get('user');
  } else if (variant === 'cls-rtracer') {
    const rTracer = (await import('cls-rtracer')).default;
    await app.register(rTracer.fastifyPlugin, { requestIdFactory: (req: any) => header(req.raw ?? req) });
    read = () => rTracer.id() as string;
  }
  app.get('/', async (req) => read(req.raw));
  return app.listen({ port: 0, host: '127.0.0.1' });
}

async function koa(variant: string): Promise<string> {
  const { default: Koa } = await import('koa');
  const app = new Koa({ asyncLocalStorage: variant === 'koa-als' });
  let read: (ctx: any) => string = (ctx) => header(ctx.req);
  if (variant === 'als') {
    app.use((ctx, next) => als.run({ user: header(ctx.req) }, next));
    read = () => als.getStore()!.user;
  } else if (variant === 'tokenlay') {
    const { tokenlay } = await shipped('koa');
    app.use(tokenlay({ identify: (ctx) => ({ user: header(ctx.req) }) }));
    read = tokenlayUser;
  } else if (variant === 'koa-als') {
    read = () => header((app as any).currentContext.req);
  } else if (variant === 'cls-rtracer') {
    const rTracer = (await import('cls-rtracer')).default;
    app.use(rTracer.koaMiddleware({ requestIdFactory: (req: IncomingMessage) => header(req) }));
    read = () => rTracer.id() as string;
  }
  app.use((ctx) => {
    ctx.body = read(ctx);
  });
  return listenNode(app.callback());
}

async function hono(variant: string): Promise<string> {
  const { Hono } = await import('hono');
  const { createAdaptorServer } = await import('@hono/node-server');
  const app = new Hono();
  let read: (c: any) => string = (c) => c.req.header('x-user');
  if (variant === 'als') {
    app.use((c, next) => als.run({ user: c.req.header('x-user')! }, next));
    read = () => als.getStore()!.user;
  } else if (variant === 'tokenlay') {
    const { tokenlay } = await shipped('hono');
    app.use(tokenlay({ identify: (c) => ({ user: c.req.header('x-user') }) }));
    read = tokenlayUser;
  } else if (variant === 'hono-context-storage') {
    const { contextStorage, getContext } = await import('hono/context-storage');
    app.use(contextStorage());
    read = () => getContext().req.header('x-user')!;
  }
  app.get('/', (c) => c.text(read(c)));
  const server = createAdaptorServer({ fetch: app.fetch });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

const starters: Record<Framework, (variant: string) => Promise<string>> = { express, fastify, koa, hono };

export function starter(framework: Framework, variant: string): Start {
  if (!VARIANTS[framework]?.includes(variant)) throw new Error(`no variant "${variant}" for ${framework}; known: ${VARIANTS[framework]?.join(', ')}`);
  return () => starters[framework](variant);
}
