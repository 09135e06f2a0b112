import { describe, expect, it } from 'vitest';
import { Hono, type Context } from 'hono';
import { jwt } from 'hono/jwt';
import { stream, streamSSE } from 'hono/streaming';
import { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { getTokenlayContext, getTokenlayUsage, setTokenlayContext, type TokenlayUsage } from '../../src/index.js';
import { tokenlay, type TokenlayHonoVariables } from '../../adapters/hono.js';
import { serveFetch } from './fetch-server.js';
import { bearer, chat, eventually, oneSocket, postJson, send, SECRET, useStack, expectOptionStrength } from './helpers.js';

const stack = useStack();
const auth = () => jwt({ secret: SECRET, alg: 'HS256' });

async function callAndReport(c: Context) {
  const r = await stack.openai.chat.completions.create(chat());
  return c.json({ answer: r.choices[0].message.content, usage: c.get('tokenlay') });
}

async function withServer(app: Hono<any>, fn: (url: string) => Promise<void>) {
  const server = await serveFetch(app.fetch);
  try {
    await fn(server.url);
  } finally {
    await server.close();
  }
}

describe('Hono 4 on @hono/node-server', () => {
  it.each([
    ['before', (app: Hono) => app.use('*', tokenlay()).use('/auth/*', auth())],
    ['after', (app: Hono) => app.use('/auth/*', auth()).use('*', tokenlay())],
  ])('attributes the hono/jwt payload when tokenlay() comes %s jwt()', async (_order, mount) => {
    const app = new Hono();
    mount(app);
    app.post('/auth/chat', callAndReport);
    await withServer(app, async (url) => {
      const res = await postJson(url + '/auth/chat', {}, bearer({ sub: 'alice', org_id: 'acme', plan: 'pro' }));
      expect(res.json().answer).toBe('hello alice');
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-org'], h['x-tokenlay-plan']]).toEqual(['alice', 'acme', 'pro']);
    });
  });

  it("falls back to c.get('user'), and reads c.req.json() bodies in the scope", async () => {
    const app = new Hono<{ Variables: TokenlayHonoVariables & { user: { id: string } } }>();
    app.use('*', tokenlay());
    app.use('*', async (c, next) => {
      const body = await c.req.json();
      c.set('user', { id: body.login });
      await next();
    });
    app.post('/chat', async (c) => {
      const { topic } = await c.req.json();
      const r = await stack.openai.chat.completions.create(chat(topic));
      return c.json({ answer: r.choices[0].message.content, usage: c.get('tokenlay') });
    });
    await withServer(app, async (url) => {
      const res = await postJson(url + '/chat', { login: 'bob', topic: 'weather', pad: 'x'.repeat(200_000) });
      expect(res.json()).toEqual({ answer: 'hello bob', usage: { calls: 1, cost: 0, inputTokens: 10, outputTokens: 5 } });
    });
  });

  it('keeps the scope inside streamSSE and stream callbacks, and finishes the request when the stream ends', async () => {
    const finished: Array<{ path: string; usage: TokenlayUsage }> = [];
    const app = new Hono();
    app.use('*', tokenlay({ onFinish: (usage, c) => finished.push({ path: c.req.path, usage: { ...usage } }) }));
    app.use('*', auth());
    app.post('/sse', (c) =>
      streamSSE(c, async (sse) => {
        for (let i = 0; i < 3; i++) {
          // Stays on the wall clock: events written apart in time, as a provider streams them.
          await sse.sleep(5);
          const r = await stack.openai.chat.completions.create(chat(`part ${i}`));
          await sse.writeSSE({ data: r.choices[0].message.content ?? '' });
        }
      }),
    );
    app.post('/text', (c) =>
      stream(c, async (s) => {
        const chunks = await stack.openai.chat.completions.create({ ...chat(), stream: true });
        for await (const chunk of chunks) await s.write(chunk.choices[0]?.delta?.content ?? '');
      }),
    );
    await withServer(app, async (url) => {
      const sse = await postJson(url + '/sse', {}, bearer({ sub: 'carol' }));
      expect(sse.body).toBe('data: hello carol\n\n'.repeat(3));
      const text = await postJson(url + '/text', {}, bearer({ sub: 'carl' }));
      expect(text.body).toBe('hello carl ');
      expect(stack.users()).toEqual(['carol', 'carol', 'carol', 'carl']);
      await eventually(() => finished.length === 2);
      expect(finished.map((f) => [f.path, f.usage.calls])).toEqual([
        ['/sse', 3],
        ['/text', 1],
      ]);
    });
  });

  it('keeps the scope for a lazy body that makes its calls while the server reads it', async () => {
    const app = new Hono();
    app.use('*', auth());
    app.use('*', tokenlay());
    app.post('/lazy', (c) => {
      let part = 0;
      return c.body(
        new ReadableStream<Uint8Array>({
          // The first pull runs at once, in the handler; the later ones when the server reads.
          async pull(controller) {
            if (part === 0) {
              part++;
              return controller.enqueue(new TextEncoder().encode('answers:\n'));
            }
            if (part === 3) return controller.close();
            const r = await stack.openai.chat.completions.create(chat(`part ${part++}`));
            controller.enqueue(new TextEncoder().encode(r.choices[0].message.content + '\n'));
          },
        }),
      );
    });
    await withServer(app, async (url) => {
      const res = await postJson(url + '/lazy', {}, bearer({ sub: 'dora' }));
      expect(res.body).toBe('answers:\n' + 'hello dora\n'.repeat(2));
      expect(stack.users()).toEqual(['dora', 'dora']);
    });
  });

  it('without @hono/node-server (app.request, other runtimes), finishes once the streamed body has been read', async () => {
    const finished: TokenlayUsage[] = [];
    const app = new Hono();
    app.use('*', tokenlay({ onFinish: (usage) => finished.push({ ...usage }) }));
    app.use('*', auth());
    app.post('/lazy', (c) =>
      c.body(
        NodeReadableStream.from(
          (async function* () {
            for (let i = 0; i < 2; i++) {
              const r = await stack.openai.chat.completions.create(chat(`part ${i}`));
              yield new TextEncoder().encode(r.choices[0].message.content + '\n');
            }
          })(),
        ) as ReadableStream<Uint8Array>,
      ),
    );
    const res = await app.request('/lazy', { method: 'POST', headers: bearer({ sub: 'dina' }) });
    expect(finished).toEqual([]);
    expect(await res.text()).toBe('hello dina\n'.repeat(2));
    expect(stack.users()).toEqual(['dina', 'dina']);
    await eventually(() => finished.length === 1);
    expect(finished[0].calls).toBe(2);
  });

  it('finishes a streamed request whose client went away', async () => {
    const finished: TokenlayUsage[] = [];
    const app = new Hono();
    app.use('*', tokenlay({ onFinish: (usage) => finished.push(usage) }));
    app.post('/forever', (c) =>
      streamSSE(c, async (sse) => {
        // Stays on the wall clock: an endless stream at a pace, so that the client's leaving lands mid-stream.
        while (!sse.aborted && !sse.closed) await sse.writeSSE({ data: 'tick' }).then(() => sse.sleep(5));
      }),
    );
    await withServer(app, async (url) => {
      await send(url + '/forever', { method: 'POST', abortAfter: 50 });
      await eventually(() => finished.length === 1);
    });
  });

  it('keeps parseBody() multipart uploads in the scope', async () => {
    const app = new Hono();
    app.use('*', tokenlay({ identify: (c) => ({ user: c.req.header('x-owner') }) }));
    app.post('/upload', async (c) => {
      const form = await c.req.parseBody();
      const r = await stack.openai.chat.completions.create(chat(`file of ${(form.file as File).size} bytes`));
      return c.json({ answer: r.choices[0].message.content, owner: form.owner });
    });
    await withServer(app, async (url) => {
      const form = new FormData();
      form.append('owner', 'erin');
      form.append('file', new Blob([new Uint8Array(300_000)]), 'big.bin');
      const res = await fetch(url + '/upload', { method: 'POST', body: form, headers: { 'x-owner': 'erin' } });
      expect(await res.json()).toEqual({ answer: 'hello erin', owner: 'erin' });
    });
  });

  it('sends no user field without an authenticated user, and never forwards caller headers', async () => {
    const app = new Hono();
    app.use('*', tokenlay());
    app.use('/auth/*', auth());
    app.post('/open/chat', callAndReport);
    app.post('/auth/chat', callAndReport);
    await withServer(app, async (url) => {
      await postJson(url + '/open/chat', {}, { 'x-tokenlay-user': 'admin', 'x-tokenlay-plan': 'enterprise' });
      await postJson(url + '/auth/chat', {}, { 'x-tokenlay-user': 'admin', ...bearer({ sub: 'frank' }) });
      expect(stack.provider.requests[0].headers['x-tokenlay-user']).toBeUndefined();
      expect(stack.provider.requests[0].headers['x-tokenlay-plan']).toBeUndefined();
      expect(stack.provider.requests[1].headers['x-tokenlay-user']).toBe('frank');
    });
  });

  it('reads caller headers only with trustHeaders, and only the fields listed', async () => {
    const app = new Hono();
    app.use('*', tokenlay({ trustHeaders: ['user', 'tier'] }));
    app.post('/chat', callAndReport);
    await withServer(app, async (url) => {
      await postJson(url + '/chat', {}, { 'x-tokenlay-user': 'upstream', 'x-tokenlay-plan': 'pro', 'x-tokenlay-org': 'no' });
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-plan'], h['x-tokenlay-org']]).toEqual(['upstream', 'pro', undefined]);
    });
  });

  it("takes an async identify, static fields and setTokenlayContext, and reports c.get('tokenlay') to onFinish", async () => {
    const finished: Array<{ usage: TokenlayUsage; path: string }> = [];
    const app = new Hono<{ Variables: TokenlayHonoVariables }>();
    app.use(
      '*',
      tokenlay({
        fields: { project: 'support-bot', feature: 'default' },
        identify: async (c) => {
          // Stays on the wall clock: identify crosses a real timer hop, across which the scope must survive.
          await new Promise((r) => setTimeout(r, 5));
          return { user: c.req.header('x-session-user'), feature: 'from-identify' };
        },
        onFinish: (usage, c) => finished.push({ usage: { ...usage }, path: c.req.path }),
      }),
    );
    app.post('/twice', async (c) => {
      setTokenlayContext({ plan: 'looked-up' });
      await stack.openai.chat.completions.create(chat());
      await stack.openai.chat.completions.create(chat());
      return c.json({ var: c.get('tokenlay'), usage: getTokenlayUsage() });
    });
    await withServer(app, async (url) => {
      const res = await postJson(url + '/twice', {}, { 'x-session-user': 'gina' });
      await expectOptionStrength(stack, 'gina', { framework: res.json().var, usage: res.json().usage }, finished);
      expect(finished[0]).toMatchObject({ path: '/twice' });
    });
  });

  it('keeps one roll-up and adds the sub-app fields when a second tokenlay() is mounted on a sub-app', async () => {
    const api = new Hono();
    api.use('*', tokenlay({ fields: { feature: 'second' } }));
    api.post('/chat', callAndReport);
    const app = new Hono();
    app.use('*', tokenlay());
    app.use('*', auth());
    app.route('/api', api);
    await withServer(app, async (url) => {
      const res = await postJson(url + '/api/chat', {}, bearer({ sub: 'hank' }));
      expect(res.json().usage.calls).toBe(1);
      expect(stack.provider.requests[0].headers['x-tokenlay-feature']).toBe('second');
    });
  });

  it('ends the scope with the request: nothing left on a keep-alive socket after a 404, a thrown error or an abort', async () => {
    const finished: TokenlayUsage[] = [];
    const outside: unknown[] = [];
    const app = new Hono();
    // Mounted before tokenlay(): whatever it sees of a scope was left behind by an earlier request.
    app.use('*', async (_c, next) => {
      outside.push(getTokenlayContext());
      await next();
    });
    app.use('*', tokenlay({ onFinish: (usage) => finished.push(usage) }));
    app.use('/auth/*', auth());
    app.get('/auth/boom', () => {
      throw new Error('boom');
    });
    app.post('/auth/slow', async (c) => {
      await c.req.json();
      await stack.openai.chat.completions.create(chat());
      return c.text('late');
    });
    app.post('/context', (c) => c.json({ context: getTokenlayContext() ?? null }));
    app.onError((_err, c) => c.text('boom', 500));
    await withServer(app, async (url) => {
      const agent = oneSocket();
      try {
        const headers = bearer({ sub: 'ivan' });
        expect((await send(url + '/auth/boom', { headers, agent })).status).toBe(500);
        expect((await send(url + '/auth/missing', { headers, agent })).status).toBe(404);
        const body = JSON.stringify({ pad: 'x'.repeat(50_000) });
        await send(url + '/auth/slow', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body, halfBody: true, abortAfter: 30 });
        stack.provider.options.behavior = () => ({ kind: 'delay', ms: 100 });
        await send(url + '/auth/slow', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}', abortAfter: 30 });
        const last = await send(url + '/context', { method: 'POST', agent });
        expect(last.json().context).toEqual({});
        expect(outside).toEqual([undefined, undefined, undefined, undefined, undefined]);
        await eventually(() => finished.length === 5);
      } finally {
        stack.provider.options.behavior = undefined;
        agent.destroy();
      }
    });
  });
});
