import { describe, expect, it } from 'vitest';
import Fastify5, { type FastifyInstance, type FastifyRequest } from 'fastify';
import Fastify4 from 'fastify4';
import jwt5 from '@fastify/jwt';
import jwt4 from 'fastify-jwt-v8';
import multipart5 from '@fastify/multipart';
import multipart4 from 'fastify-multipart-v8';
import { EventEmitter } from 'node:events';
import { getTokenlayContext, getTokenlayUsage, setTokenlayContext, type TokenlayUsage } from '../../src/index.js';
import { tokenlay } from '../../adapters/fastify.js';
import { bearer, chat, eventually, postJson, SECRET, useStack, expectOptionStrength, failThenReadContext } from './helpers.js';

const stack = useStack();

// Each major with the plugin majors made for it.
describe.each([
  { name: 'Fastify 5', Fastify: Fastify5, jwt: jwt5, multipart: multipart5 },
  { name: 'Fastify 4', Fastify: Fastify4 as unknown as typeof Fastify5, jwt: jwt4 as unknown as typeof jwt5, multipart: multipart4 as unknown as typeof multipart5 },
])('$name', ({ Fastify, jwt, multipart }) => {
  async function serve(app: FastifyInstance) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
  }

  async function callAndReport(request: FastifyRequest) {
    const r = await stack.openai.chat.completions.create(chat());
    return { answer: r.choices[0].message.content, usage: request.tokenlay };
  }

  const verify = async (request: FastifyRequest) => {
    if (request.headers.authorization) await request.jwtVerify();
  };

  it.each([
    [
      'before',
      async (app: FastifyInstance) => {
        await app.register(tokenlay);
        await app.register(jwt, { secret: SECRET });
        app.addHook('onRequest', verify);
      },
    ],
    [
      'after',
      async (app: FastifyInstance) => {
        await app.register(jwt, { secret: SECRET });
        app.addHook('onRequest', verify);
        await app.register(tokenlay);
      },
    ],
  ])('attributes the @fastify/jwt user when tokenlay is registered %s the jwtVerify hook', async (_order, setup) => {
    const app = Fastify();
    await setup(app);
    app.post('/chat', callAndReport);
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/chat', {}, bearer({ sub: 'alice', org_id: 'acme', plan: 'pro' }));
      expect(res.json().answer).toBe('hello alice');
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-org'], h['x-tokenlay-plan']]).toEqual(['alice', 'acme', 'pro']);
    } finally {
      await server.close();
    }
  });

  it('applies to the whole app, not only its own encapsulation context: routes in child plugins included', async () => {
    const app = Fastify();
    await app.register(jwt, { secret: SECRET });
    app.addHook('onRequest', verify);
    await app.register(tokenlay);
    await app.register(async function routes(child) {
      child.post('/chat', callAndReport);
      await child.register(async function nested(grandchild) {
        grandchild.post('/nested', callAndReport);
      });
    });
    app.post('/root', callAndReport);
    const server = await serve(app);
    try {
      await postJson(server.url + '/chat', {}, bearer({ sub: 'bob' }));
      await postJson(server.url + '/nested', {}, bearer({ sub: 'bob' }));
      await postJson(server.url + '/root', {}, bearer({ sub: 'bob' }));
      expect(stack.users()).toEqual(['bob', 'bob', 'bob']);
      expect(app.hasPlugin('tokenlay')).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('keeps the scope through JSON body parsing into preValidation hooks and the handler', async () => {
    const app = Fastify({ bodyLimit: 10_000_000 });
    await app.register(tokenlay, { identify: (request) => ({ user: (request.body as any)?.user }) });
    // A moderation call before validation, after the body has been read from the socket's events.
    app.addHook('preValidation', async () => {
      await stack.openai.chat.completions.create(chat('moderate'));
    });
    app.post('/chat', async (request) => {
      const r = await stack.openai.chat.completions.create(chat());
      return { answer: r.choices[0].message.content, usage: request.tokenlay };
    });
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/chat', { user: 'carol', pad: 'x'.repeat(1_000_000) });
      expect(res.json()).toEqual({ answer: 'hello carol', usage: { calls: 2, cost: 0, inputTokens: 20, outputTokens: 10 } });
      expect(stack.users()).toEqual(['carol', 'carol']);
    } finally {
      await server.close();
    }
  });

  it('re-enters the scope for later hooks and the handler when a hook resumes from outside the request', async () => {
    // A shared queue (a rate limiter, a connection pool) that lets requests go from its own timer:
    // a callback-style hook waiting on it calls `done` outside any request.
    const queue = new EventEmitter();
    const timer = setInterval(() => queue.emit('go'), 2);
    const wait = (_request: unknown, _reply: unknown, done: () => void) => {
      queue.once('go', () => done());
    };
    const app = Fastify();
    await app.register(tokenlay, { identify: (request) => ({ user: request.headers['x-user'] as string }) });
    app.addHook('onRequest', wait);
    app.addHook('preValidation', async () => {
      await stack.openai.chat.completions.create(chat('moderate'));
    });
    app.addHook('preValidation', wait);
    app.post('/chat', callAndReport);
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/chat', {}, { 'x-user': 'dave' });
      expect(res.json().answer).toBe('hello dave');
      expect(stack.users()).toEqual(['dave', 'dave']);
      expect(res.json().usage.calls).toBe(2);
    } finally {
      clearInterval(timer);
      await server.close();
    }
  });

  it('keeps the scope through @fastify/multipart uploads, streamed and attached to the body', async () => {
    const app = Fastify();
    await app.register(tokenlay, {
      identify: (request) => ({ user: (request.body as any)?.owner?.value ?? (request.headers['x-owner'] as string) }),
    });
    await app.register(async function streamed(child) {
      await child.register(multipart);
      child.post('/stream', async (request) => {
        const file = await request.file();
        const bytes = (await file!.toBuffer()).length;
        const r = await stack.openai.chat.completions.create(chat(`file of ${bytes} bytes`));
        return { answer: r.choices[0].message.content, bytes };
      });
    });
    await app.register(async function attached(child) {
      await child.register(multipart, { attachFieldsToBody: true });
      child.post('/attached', async () => {
        const r = await stack.openai.chat.completions.create(chat());
        return { answer: r.choices[0].message.content };
      });
    });
    const server = await serve(app);
    try {
      const upload = (path: string, owner: string) => {
        const form = new FormData();
        form.append('owner', owner);
        form.append('file', new Blob([new Uint8Array(300_000)]), 'big.bin');
        return fetch(server.url + path, { method: 'POST', body: form, headers: { 'x-owner': owner } }).then((r) => r.json());
      };
      expect(await upload('/stream', 'erin')).toEqual({ answer: 'hello erin', bytes: 300_000 });
      expect(await upload('/attached', 'frank')).toEqual({ answer: 'hello frank' });
    } finally {
      await server.close();
    }
  });

  it('covers onResponse hooks, which Fastify runs once the response has been sent', async () => {
    const app = Fastify();
    await app.register(tokenlay);
    await app.register(jwt, { secret: SECRET });
    app.addHook('onRequest', verify);
    let audit: Promise<unknown> | undefined;
    app.addHook('onResponse', (_request, _reply, done) => {
      audit = stack.openai.chat.completions.create(chat('audit'));
      done();
    });
    app.post('/chat', callAndReport);
    const server = await serve(app);
    try {
      await postJson(server.url + '/chat', {}, bearer({ sub: 'gina' }));
      await eventually(() => audit !== undefined);
      await audit;
      expect(stack.users()).toEqual(['gina', 'gina']);
    } finally {
      await server.close();
    }
  });

  it('sends no user field without an authenticated user, and never forwards caller headers', async () => {
    const app = Fastify();
    await app.register(tokenlay);
    await app.register(jwt, { secret: SECRET });
    app.addHook('onRequest', verify);
    app.post('/chat', callAndReport);
    const server = await serve(app);
    try {
      await postJson(server.url + '/chat', {}, { 'x-tokenlay-user': 'admin', 'x-tokenlay-plan': 'enterprise' });
      await postJson(server.url + '/chat', {}, { 'x-tokenlay-user': 'admin', ...bearer({ sub: 'hank' }) });
      expect(stack.provider.requests[0].headers['x-tokenlay-user']).toBeUndefined();
      expect(stack.provider.requests[0].headers['x-tokenlay-plan']).toBeUndefined();
      expect(stack.provider.requests[1].headers['x-tokenlay-user']).toBe('hank');
    } finally {
      await server.close();
    }
  });

  it('reads caller headers only with trustHeaders, and only the fields listed', async () => {
    const app = Fastify();
    await app.register(tokenlay, { trustHeaders: ['user', 'tier'] });
    app.post('/chat', callAndReport);
    const server = await serve(app);
    try {
      await postJson(server.url + '/chat', {}, { 'x-tokenlay-user': 'upstream', 'x-tokenlay-plan': 'pro', 'x-tokenlay-org': 'no' });
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-plan'], h['x-tokenlay-org']]).toEqual(['upstream', 'pro', undefined]);
    } finally {
      await server.close();
    }
  });

  it('takes an async identify, static fields and setTokenlayContext, and reports request.tokenlay to onFinish', async () => {
    const finished: Array<{ usage: TokenlayUsage; url: string }> = [];
    const app = Fastify();
    await app.register(tokenlay, {
      fields: { project: 'support-bot', feature: 'default' },
      identify: async (request) => {
        // Stays on the wall clock: identify crosses a real timer hop, across which the scope must survive.
        await new Promise((r) => setTimeout(r, 5));
        return { user: String(request.headers['x-session-user']), feature: 'from-identify' };
      },
      onFinish: (usage, request) => finished.push({ usage: { ...usage }, url: request.url }),
    });
    app.post('/twice', async (request) => {
      setTokenlayContext({ plan: 'looked-up' });
      await stack.openai.chat.completions.create(chat());
      await stack.openai.chat.completions.create(chat());
      return { request: request.tokenlay, usage: getTokenlayUsage() };
    });
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/twice', {}, { 'x-session-user': 'ivy' });
      await expectOptionStrength(stack, 'ivy', { framework: res.json().request, usage: res.json().usage }, finished);
      expect(finished[0]).toMatchObject({ url: '/twice' });
    } finally {
      await server.close();
    }
  });

  it('can be registered twice without a decorator clash: one roll-up, the second registration fields as an inner layer', async () => {
    const app = Fastify();
    await app.register(tokenlay);
    await app.register(tokenlay, { fields: { feature: 'second' } });
    await app.register(jwt, { secret: SECRET });
    app.addHook('onRequest', verify);
    app.post('/chat', callAndReport);
    const server = await serve(app);
    try {
      const res = await postJson(server.url + '/chat', {}, bearer({ sub: 'jack' }));
      expect(res.json().usage.calls).toBe(1);
      expect(stack.provider.requests[0].headers['x-tokenlay-feature']).toBe('second');
    } finally {
      await server.close();
    }
  });

  it('leaves nothing behind on a keep-alive socket after a 404, a thrown error or an aborted request', async () => {
    const finished: TokenlayUsage[] = [];
    const outside: unknown[] = [];
    const app = Fastify();
    // Runs before tokenlay's hook: whatever it sees of a scope was left behind by an earlier request.
    app.addHook('onRequest', (_request, _reply, done) => {
      outside.push(getTokenlayContext());
      done();
    });
    await app.register(tokenlay, { onFinish: (usage) => finished.push(usage) });
    await app.register(jwt, { secret: SECRET });
    app.addHook('onRequest', verify);
    app.get('/boom', async () => {
      throw new Error('boom');
    });
    app.post('/slow', async () => {
      await stack.openai.chat.completions.create(chat());
      return 'late';
    });
    app.post('/context', async () => ({ context: getTokenlayContext() ?? null }));
    const server = await serve(app);
    try {
      expect(await failThenReadContext(stack, server.url, bearer({ sub: 'kim' }))).toEqual({});
      expect(outside).toEqual([undefined, undefined, undefined, undefined, undefined]);
      await eventually(() => finished.length === 5);
    } finally {
      await server.close();
    }
  });
});
