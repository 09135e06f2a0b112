import { describe, expect, it } from 'vitest';
import express5 from 'express';
import express4 from 'express4';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import Koa from 'koa';
import { Router } from '@koa/router';
import Fastify5 from 'fastify';
import Fastify4 from 'fastify4';
import { Hono } from 'hono';
import { getTokenlayUsage, type TokenlayUsage } from '../../src/index.js';
import * as expressAdapter from '../../adapters/express.js';
import * as koaAdapter from '../../adapters/koa.js';
import * as fastifyAdapter from '../../adapters/fastify.js';
import * as honoAdapter from '../../adapters/hono.js';
import * as nextAdapter from '../../adapters/next.js';
import { listen } from '../support/http.js';
import { serveFetch } from './fetch-server.js';
import { chat, eventually, postJson, send, useStack } from './helpers.js';

const stack = useStack();

const blockBody = {
  error: {
    message: 'Daily request limit of 2 reached',
    type: 'tokenlay_limit_exceeded',
    code: 'limit_exceeded',
    param: null,
    tokenlay: { rule_id: 'two-a-day', limit: { type: 'requests', window: 'day', per: 'user', max: 2, current: 2, resets_at: '2026-12-01T00:00:00Z' } },
  },
};

/** The proxy stand-in blocks every call, as a proxy does once a limit is reached. */
function blockEverything() {
  stack.provider.options.behavior = () => ({
    kind: 'status',
    status: 429,
    headers: { 'retry-after': '120', 'x-should-retry': 'false', 'x-tokenlay-rule-action': 'block', 'x-tokenlay-rule-id': 'two-a-day' },
    body: blockBody,
  });
}

function expectBlockAnswer(res: { status: number; headers: Record<string, unknown>; body: string }) {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['retry-after']).toBe('120');
  expect(res.headers['x-tokenlay-rule-id']).toBe('two-a-day');
  expect(res.headers['x-tokenlay-rule-action']).toBe('block');
  expect(JSON.parse(res.body)).toEqual(blockBody);
}

const callLLM = () => stack.openai.chat.completions.create(chat());

describe('error handlers answer an uncaught block as the OpenAI-style JSON error', () => {
  it.each([
    ['Express 5', express5],
    ['Express 4', express4 as unknown as typeof express5],
  ])('%s: tokenlayErrorHandler()', async (_name, express) => {
    blockEverything();
    const app = express();
    app.use(expressAdapter.tokenlay());
    app.post('/chat', async (_req, res, next) => {
      // Express 4 does not catch rejected promises: hand the error on, as Express 4 apps do.
      try {
        res.json(await callLLM());
      } catch (err) {
        next(err);
      }
    });
    app.post('/boom', () => {
      throw new Error('not a block');
    });
    app.use(expressAdapter.tokenlayErrorHandler());
    const server = await listen(app);
    try {
      expectBlockAnswer(await postJson(server.url + '/chat', {}));
      // Any other error goes on to Express's own handler.
      expect((await postJson(server.url + '/boom', {})).status).toBe(500);
    } finally {
      await server.close();
    }
  });

  it.each([
    ['Express 5', express5],
    ['Express 4', express4 as unknown as typeof express5],
  ])('%s: an async route that just awaits the call (no try/catch), in the app and in a router, with tokenlayErrorHandler mounted without ()', async (_name, express) => {
    blockEverything();
    const app = express();
    app.use(expressAdapter.tokenlay());
    app.post('/chat', async (_req, res) => {
      res.json(await callLLM());
    });
    const router = express.Router();
    router.post('/chat', express.json(), async (_req, res) => {
      res.json(await callLLM());
    });
    app.use('/api', router);
    app.post('/sync-boom', () => {
      throw new Error('not a block');
    });
    app.use(expressAdapter.tokenlayErrorHandler);
    const server = await listen(app);
    try {
      expectBlockAnswer(await postJson(server.url + '/chat', {}));
      expectBlockAnswer(await postJson(server.url + '/api/chat', { hello: 'world' }));
      // A second block on the same app goes the same way (the layers are taught once).
      expectBlockAnswer(await postJson(server.url + '/chat', {}));
      expect((await postJson(server.url + '/sync-boom', {})).status).toBe(500);
    } finally {
      await server.close();
    }
  });

  it('Koa: tokenlayErrorHandler() before the routes', async () => {
    blockEverything();
    const app = new Koa();
    app.silent = true;
    app.use(koaAdapter.tokenlayErrorHandler());
    app.use(koaAdapter.tokenlay());
    app.use(async (ctx) => {
      if (ctx.path === '/boom') throw new Error('not a block');
      ctx.body = await callLLM();
    });
    const server = await listen(app.callback());
    try {
      expectBlockAnswer(await postJson(server.url + '/chat', {}));
      expect((await postJson(server.url + '/boom', {})).status).toBe(500);
    } finally {
      await server.close();
    }
  });

  it.each([
    ['Fastify 5', Fastify5],
    ['Fastify 4', Fastify4 as unknown as typeof Fastify5],
  ])('%s: setErrorHandler(tokenlayErrorHandler)', async (_name, Fastify) => {
    blockEverything();
    const app = Fastify();
    await app.register(fastifyAdapter.tokenlay);
    app.setErrorHandler(fastifyAdapter.tokenlayErrorHandler);
    app.post('/chat', async () => callLLM());
    app.post('/boom', async () => {
      throw new Error('not a block');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      expectBlockAnswer(await postJson(url + '/chat', {}));
      const other = await postJson(url + '/boom', {});
      expect(other.status).toBe(500);
      expect(other.json().message).toBe('not a block');
    } finally {
      await app.close();
    }
  });

  it('Hono: app.onError(tokenlayErrorHandler)', async () => {
    blockEverything();
    const app = new Hono();
    app.use('*', honoAdapter.tokenlay());
    app.post('/chat', async (c) => c.json(await callLLM()));
    app.post('/boom', () => {
      throw new Error('not a block');
    });
    app.onError(honoAdapter.tokenlayErrorHandler);
    const server = await serveFetch(app.fetch);
    const savedError = console.error;
    console.error = () => undefined;
    try {
      expectBlockAnswer(await postJson(server.url + '/chat', {}));
      expect((await postJson(server.url + '/boom', {})).status).toBe(500);
    } finally {
      console.error = savedError;
      await server.close();
    }
  });

  it('Next.js: withTokenlay answers a block by itself; tokenlayErrorHandler(err) for a custom catch', async () => {
    blockEverything();
    const wrapped = nextAdapter.withTokenlay(async () => Response.json(await callLLM()));
    const custom = async () => {
      try {
        return Response.json(await callLLM());
      } catch (err) {
        return nextAdapter.tokenlayErrorHandler(err);
      }
    };
    const server = await serveFetch((request) => (new URL(request.url).pathname === '/custom' ? custom() : wrapped(request, {})), { overrideGlobalObjects: false });
    try {
      expectBlockAnswer(await postJson(server.url + '/chat', {}));
      expectBlockAnswer(await postJson(server.url + '/custom', {}));
      expect(() => nextAdapter.tokenlayErrorHandler(new Error('other'))).toThrow('other');
    } finally {
      await server.close();
    }
  });
});

describe('a second tokenlay() inside the first is an inner layer', () => {
  it('Express: a feature router adds its fields and identify and calls its own onFinish', async () => {
    const outerDone: TokenlayUsage[] = [];
    const innerDone: TokenlayUsage[] = [];
    const app = express5();
    app.use(expressAdapter.tokenlay({ identify: () => ({ user: 'ann', plan: 'free' }), fields: { project: 'app' }, onFinish: (u) => outerDone.push({ ...u }) }));
    const router = express5.Router();
    router.use(expressAdapter.tokenlay({ fields: { feature: 'summarize' }, identify: () => ({ plan: 'pro' }), onFinish: (u) => innerDone.push({ ...u }) }));
    router.post('/run', async (_req, res) => {
      await callLLM();
      res.json({ usage: getTokenlayUsage() });
    });
    app.use('/summarize', router);
    app.post('/plain', async (_req, res) => {
      await callLLM();
      res.json({});
    });
    const server = await listen(app);
    try {
      await postJson(server.url + '/summarize/run', {});
      await postJson(server.url + '/plain', {});
      const [inner, plain] = stack.provider.requests.map((r) => r.headers);
      expect([inner['x-tokenlay-user'], inner['x-tokenlay-plan'], inner['x-tokenlay-project'], inner['x-tokenlay-feature']]).toEqual(['ann', 'pro', 'app', 'summarize']);
      expect([plain['x-tokenlay-user'], plain['x-tokenlay-plan'], plain['x-tokenlay-feature']]).toEqual(['ann', 'free', undefined]);
      await eventually(() => outerDone.length === 2 && innerDone.length === 1);
      expect(innerDone[0].calls).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('Express: the same middleware mounted on the app and a router still opens one scope', async () => {
    const finished: TokenlayUsage[] = [];
    const mw = expressAdapter.tokenlay({ fields: { feature: 'once' }, onFinish: (u) => finished.push(u) });
    const app = express5();
    app.use(mw);
    const router = express5.Router();
    router.use(mw);
    router.post('/run', async (_req, res) => {
      await callLLM();
      res.json({});
    });
    app.use('/r', router);
    const server = await listen(app);
    try {
      await postJson(server.url + '/r/run', {});
      await eventually(() => finished.length === 1);
      // Stays on the wall clock: it checks an absence (no second onFinish), so it gives one time to come.
      await new Promise((r) => setTimeout(r, 30));
      expect(finished).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('Koa: a router-level tokenlay() adds its fields', async () => {
    const innerDone: TokenlayUsage[] = [];
    const app = new Koa();
    app.use(koaAdapter.tokenlay({ identify: () => ({ user: 'kim' }) }));
    const router = new Router();
    router.post('/run', koaAdapter.tokenlay({ fields: { feature: 'koa-feature' }, onFinish: (u) => innerDone.push(u) }), async (ctx) => {
      await callLLM();
      ctx.body = {};
    });
    app.use(router.routes());
    const server = await listen(app.callback());
    try {
      await postJson(server.url + '/run', {});
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-feature']]).toEqual(['kim', 'koa-feature']);
      await eventually(() => innerDone.length === 1);
    } finally {
      await server.close();
    }
  });

  it('Fastify: tokenlay registered in a child plugin adds its fields for that plugin\'s routes', async () => {
    const app = Fastify5();
    await app.register(fastifyAdapter.tokenlay, { identify: () => ({ user: 'fay' }) });
    await app.register(async function feature(child) {
      await child.register(fastifyAdapter.tokenlay, { fields: { feature: 'fastify-feature' } });
      child.post('/run', async () => {
        await callLLM();
        return {};
      });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      await postJson(url + '/run', {});
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-feature']]).toEqual(['fay', 'fastify-feature']);
    } finally {
      await app.close();
    }
  });

  it('Hono: a sub-app tokenlay() adds its fields', async () => {
    const app = new Hono();
    app.use('*', honoAdapter.tokenlay({ identify: () => ({ user: 'hal' }) }));
    const sub = new Hono();
    sub.use('*', honoAdapter.tokenlay({ fields: { feature: 'hono-feature' } }));
    sub.post('/run', async (c) => {
      await callLLM();
      return c.json({});
    });
    app.route('/sub', sub);
    const server = await serveFetch(app.fetch);
    try {
      await postJson(server.url + '/sub/run', {});
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-feature']]).toEqual(['hal', 'hono-feature']);
    } finally {
      await server.close();
    }
  });

  it('Next.js: withTokenlay inside withTokenlay adds the inner fields', async () => {
    const handler = nextAdapter.withTokenlay(
      nextAdapter.withTokenlay(
        async () => {
          await callLLM();
          return Response.json({});
        },
        { fields: { feature: 'next-feature' } },
      ),
      { identify: () => ({ user: 'nia' }) },
    );
    const server = await serveFetch((request) => handler(request, {}), { overrideGlobalObjects: false });
    try {
      await postJson(server.url + '/run', {});
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-feature']]).toEqual(['nia', 'next-feature']);
    } finally {
      await server.close();
    }
  });
});

describe('identity from principals', () => {
  it('reads passport-local\'s { username, plan } as user and plan', async () => {
    passport.use('username-plan', new LocalStrategy((username, _password, done) => done(null, { username, plan: 'pro' })));
    const app = express5();
    app.use(expressAdapter.tokenlay());
    app.use(express5.json());
    app.use(passport.initialize());
    app.post('/chat', passport.authenticate('username-plan', { session: false }), async (_req, res) => {
      await callLLM();
      res.json({});
    });
    const server = await listen(app);
    try {
      await postJson(server.url + '/chat', { username: 'pat', password: 'x' });
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-plan']]).toEqual(['pat', 'pro']);
    } finally {
      await server.close();
    }
  });

  it('reads org and plan from a principal that has no id key', async () => {
    const app = express5();
    app.use(expressAdapter.tokenlay());
    app.use((req: any, _res, next) => {
      req.user = { email: 'x@example.com', organization: 'acme', tier: 'team' };
      next();
    });
    app.post('/chat', async (_req, res) => {
      await callLLM();
      res.json({});
    });
    const server = await listen(app);
    try {
      await send(server.url + '/chat', { method: 'POST' });
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-org'], h['x-tokenlay-plan']]).toEqual([undefined, 'acme', 'team']);
    } finally {
      await server.close();
    }
  });
});
