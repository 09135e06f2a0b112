import { describe, expect, it } from 'vitest';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { bodyParser } from '@koa/bodyparser';
import { Router } from '@koa/router';
import koaJwt from 'koa-jwt';
import multer from '@koa/multer';
import { Readable } from 'node:stream';
import { getTokenlayContext, getTokenlayUsage, setTokenlayContext, type TokenlayUsage } from '../../src/index.js';
import { tokenlay } from '../../adapters/koa.js';
import { listen } from '../support/http.js';
import { bearer, chat, eventually, postJson, SECRET, useStack, expectOptionStrength, failThenReadContext } from './helpers.js';

const stack = useStack();

describe.each([
  ['Koa 3', Koa3],
  ['Koa 2', Koa2 as typeof Koa3],
])('%s', (_name, Koa) => {
  const auth = () => koaJwt({ secret: SECRET, passthrough: true });

  async function serve(app: Koa3) {
    return listen(app.callback());
  }

  async function callAndReport(ctx: Koa3.Context) {
    const r = await stack.openai.chat.completions.create(chat());
    ctx.body = { answer: r.choices[0].message.content, usage: ctx.state.tokenlay };
  }

  it.each([
    ['before', (app: Koa3) => app.use(tokenlay()).use(auth())],
    ['after', (app: Koa3) => app.use(auth()).use(tokenlay())],
  ])('attributes the koa-jwt user when tokenlay() comes %s koa-jwt', async (_order, mount) => {
    const app = new Koa();
    mount(app);
    app.use(callAndReport);
    const server = await serve(app);
    try {
      const res = await postJson(server.url, {}, bearer({ sub: 'alice', org_id: 'acme', plan: 'pro' }));
      expect(res.json().answer).toBe('hello alice');
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-org'], h['x-tokenlay-plan']]).toEqual(['alice', 'acme', 'pro']);
    } finally {
      await server.close();
    }
  });

  it('keeps the scope through @koa/bodyparser and @koa/router mounted after tokenlay()', async () => {
    const app = new Koa();
    app.use(tokenlay({ identify: (ctx: any) => ({ user: ctx.request.body?.user }) }));
    app.use(bodyParser());
    const router = new Router();
    router.post('/chat/:topic', async (ctx) => {
      const r = await stack.openai.chat.completions.create(chat(ctx.params.topic));
      ctx.body = { answer: r.choices[0].message.content };
    });
    app.use(router.routes());
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/chat/weather', { user: 'bob', pad: 'x'.repeat(100_000) });
      expect(res.json().answer).toBe('hello bob');
    } finally {
      await server.close();
    }
  });

  it('keeps the scope through a @koa/multer upload parsed after tokenlay()', async () => {
    const app = new Koa();
    app.use(tokenlay({ identify: (ctx: any) => ({ user: ctx.request.body?.owner }) }));
    const router = new Router();
    router.post('/upload', multer().single('file'), async (ctx: any) => {
      const r = await stack.openai.chat.completions.create(chat(`file of ${ctx.request.file.size} bytes`));
      ctx.body = { answer: r.choices[0].message.content };
    });
    app.use(router.routes());
    const server = await serve(app);
    try {
      const form = new FormData();
      form.append('owner', 'carol');
      form.append('file', new Blob([new Uint8Array(200_000)]), 'big.bin');
      const res = await fetch(server.url + '/upload', { method: 'POST', body: form });
      expect(await res.json()).toEqual({ answer: 'hello carol' });
    } finally {
      await server.close();
    }
  });

  it('covers the code downstream middleware runs after await next() (the response phase)', async () => {
    const app = new Koa();
    app.use(tokenlay());
    app.use(auth());
    app.use(async (ctx, next) => {
      await next();
      // After the route has answered: a summary call, still for the same user.
      await stack.openai.chat.completions.create(chat('summary'));
      ctx.body = { ...(ctx.body as object), usage: { ...ctx.state.tokenlay } };
    });
    app.use(callAndReport);
    const server = await serve(app);
    try {
      const res = await postJson(server.url, {}, bearer({ sub: 'dave' }));
      expect(stack.users()).toEqual(['dave', 'dave']);
      expect(res.json().usage.calls).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('keeps the scope for a streamed ctx.body that makes its calls while Koa writes it', async () => {
    const finished: TokenlayUsage[] = [];
    const app = new Koa();
    app.use(auth());
    app.use(tokenlay({ onFinish: (usage) => finished.push({ ...usage }) }));
    app.use(async (ctx) => {
      // Nothing runs until Koa pipes the body to the socket, after every middleware has returned.
      ctx.body = Readable.from(
        (async function* () {
          for (let i = 0; i < 3; i++) {
            const r = await stack.openai.chat.completions.create(chat(`part ${i}`));
            yield r.choices[0].message.content + '\n';
          }
        })(),
      );
    });
    const server = await serve(app);
    try {
      const res = await postJson(server.url, {}, bearer({ sub: 'erin' }));
      expect(res.body).toBe('hello erin\n'.repeat(3));
      expect(stack.users()).toEqual(['erin', 'erin', 'erin']);
      await eventually(() => finished.length === 1);
      expect(finished[0].calls).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('runs listeners on the request and response streams in the scope, e.g. a call made once the response has finished', async () => {
    const app = new Koa();
    app.use(tokenlay());
    app.use(auth());
    let after: Promise<unknown> | undefined;
    app.use(async (ctx, next) => {
      ctx.res.once('finish', () => {
        after = stack.openai.chat.completions.create(chat('post-response audit'));
      });
      await next();
    });
    app.use(callAndReport);
    const server = await serve(app);
    try {
      await postJson(server.url, {}, bearer({ sub: 'finn' }));
      await eventually(() => after !== undefined);
      await after;
      expect(stack.users()).toEqual(['finn', 'finn']);
    } finally {
      await server.close();
    }
  });

  it('sends no user field for a request with no authenticated user, and never forwards caller headers', async () => {
    const app = new Koa();
    app.use(tokenlay());
    app.use(auth());
    app.use(callAndReport);
    const server = await serve(app);
    try {
      await postJson(server.url, {}, { 'x-tokenlay-user': 'admin', 'x-tokenlay-plan': 'enterprise' });
      await postJson(server.url, {}, { 'x-tokenlay-user': 'admin', ...bearer({ sub: 'frank' }) });
      expect(stack.provider.requests[0].headers['x-tokenlay-user']).toBeUndefined();
      expect(stack.provider.requests[0].headers['x-tokenlay-plan']).toBeUndefined();
      expect(stack.provider.requests[1].headers['x-tokenlay-user']).toBe('frank');
    } finally {
      await server.close();
    }
  });

  it('reads caller headers only with trustHeaders, and only the fields listed', async () => {
    const app = new Koa();
    app.use(tokenlay({ trustHeaders: ['user', 'tier'] }));
    app.use(callAndReport);
    const server = await serve(app);
    try {
      await postJson(server.url, {}, { 'x-tokenlay-user': 'upstream', 'x-tokenlay-plan': 'pro', 'x-tokenlay-org': 'not-trusted' });
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-plan'], h['x-tokenlay-org']]).toEqual(['upstream', 'pro', undefined]);
    } finally {
      await server.close();
    }
  });

  it('takes an async identify, static fields and setTokenlayContext, and reports ctx.state.tokenlay to onFinish', async () => {
    const finished: Array<{ usage: TokenlayUsage; path: string }> = [];
    const app = new Koa();
    app.use(
      tokenlay({
        fields: { project: 'support-bot', feature: 'default' },
        identify: async (ctx) => {
          // Stays on the wall clock: identify crosses a real timer hop, across which the scope must survive.
          await new Promise((r) => setTimeout(r, 5));
          return { user: String(ctx.req.headers['x-session-user']), feature: 'from-identify' };
        },
        onFinish: (usage, ctx: any) => finished.push({ usage: { ...usage }, path: ctx.path }),
      }),
    );
    app.use(async (ctx) => {
      setTokenlayContext({ plan: 'looked-up' });
      await stack.openai.chat.completions.create(chat());
      await stack.openai.chat.completions.create(chat());
      ctx.body = { state: ctx.state.tokenlay, usage: getTokenlayUsage() };
    });
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/twice', {}, { 'x-session-user': 'gina' });
      await expectOptionStrength(stack, 'gina', { framework: res.json().state, usage: res.json().usage }, finished);
      expect(finished[0]).toMatchObject({ path: '/twice' });
    } finally {
      await server.close();
    }
  });

  it('keeps one roll-up and adds the router fields when a second tokenlay() is mounted on a router', async () => {
    const app = new Koa();
    app.use(tokenlay());
    app.use(auth());
    const router = new Router();
    router.use(tokenlay({ fields: { feature: 'second' } }));
    router.post('/chat', callAndReport);
    app.use(router.routes());
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/chat', {}, bearer({ sub: 'hana' }));
      expect(res.json().usage.calls).toBe(1);
      expect(stack.provider.requests[0].headers['x-tokenlay-feature']).toBe('second');
    } finally {
      await server.close();
    }
  });

  it('leaves nothing behind on a keep-alive socket after a 404, a thrown error or an aborted request', async () => {
    const finished: TokenlayUsage[] = [];
    const outside: unknown[] = [];
    const app = new Koa();
    app.silent = true;
    // Mounted before tokenlay(): whatever it sees of a scope was left behind by an earlier request.
    app.use(async (_ctx, next) => {
      outside.push(getTokenlayContext());
      await next();
    });
    app.use(tokenlay({ onFinish: (usage) => finished.push(usage) }));
    app.use(auth());
    app.use(bodyParser());
    const router = new Router();
    router.get('/boom', () => {
      throw new Error('boom');
    });
    router.post('/slow', async (ctx) => {
      await stack.openai.chat.completions.create(chat());
      ctx.body = 'late';
    });
    router.post('/context', (ctx) => {
      ctx.body = { context: getTokenlayContext() ?? null };
    });
    app.use(router.routes());
    const server = await serve(app);
    try {
      expect(await failThenReadContext(stack, server.url, bearer({ sub: 'ivan' }))).toEqual({});
      expect(outside).toEqual([undefined, undefined, undefined, undefined, undefined]);
      await eventually(() => finished.length === 5);
    } finally {
      await server.close();
    }
  });
});

// Koa 2 cannot send a web ReadableStream body; Koa 3 can.
describe('Koa 3', () => {
  it('keeps the scope for a web ReadableStream body pulled while Koa writes it', async () => {
    const app = new Koa3();
    app.use(koaJwt({ secret: SECRET, passthrough: true }));
    app.use(tokenlay());
    app.use(async (ctx) => {
      let part = 0;
      ctx.body = new ReadableStream<Uint8Array>({
        // The first pull runs at once, in the handler; the later ones when Koa reads.
        async pull(controller) {
          if (part === 0) {
            part++;
            return controller.enqueue(new TextEncoder().encode('answers:\n'));
          }
          if (part === 3) return controller.close();
          const r = await stack.openai.chat.completions.create(chat(`part ${part++}`));
          controller.enqueue(new TextEncoder().encode(r.choices[0].message.content + '\n'));
        },
      });
    });
    const server = await listen(app.callback());
    try {
      const res = await postJson(server.url, {}, bearer({ sub: 'elle' }));
      expect(res.body).toBe('answers:\n' + 'hello elle\n'.repeat(2));
      expect(stack.users()).toEqual(['elle', 'elle']);
    } finally {
      await server.close();
    }
  });
});
