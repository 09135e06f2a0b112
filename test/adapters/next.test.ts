import { describe, expect, it } from 'vitest';
import jsonwebtoken from 'jsonwebtoken';
import { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { NextRequest, NextResponse } from 'next/server.js';
import { getTokenlayContext, getTokenlayUsage, setTokenlayContext, type TokenlayUsage } from '../../src/index.js';
import { withTokenlay, type TokenlayNextOptions } from '../../adapters/next.js';
import { serveFetch } from './fetch-server.js';
import { bearer, chat, eventually, oneSocket, postJson, send, SECRET, useStack } from './helpers.js';

const stack = useStack();

/** What an app's session lookup does: the user of a verified JWT, or nobody. */
function identify(request: Request) {
  const header = request.headers.get('authorization');
  if (!header) return undefined;
  const claims = jsonwebtoken.verify(header.slice('Bearer '.length), SECRET, { algorithms: ['HS256'] }) as jsonwebtoken.JwtPayload;
  return { user: claims.sub, org: claims.org_id, plan: claims.plan };
}

type Route = (request: NextRequest, ctx: { params: Promise<Record<string, string>> }) => Promise<Response>;

/** A tiny App Router: each path has its exported POST, called with a NextRequest and `{ params }`. */
async function withRoutes(routes: Record<string, Route>, fn: (url: string) => Promise<void>, outside?: unknown[]) {
  const server = await serveFetch(
    (request) => {
      outside?.push(getTokenlayContext());
      const [, name, id] = new URL(request.url).pathname.split('/');
      const route = routes[name];
      if (!route) return new Response('not found', { status: 404 });
      // As Next builds it from the Node request (NextRequestAdapter): url, method, headers, streamed body.
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : request.body;
      const init = { method: request.method, headers: request.headers, body, duplex: 'half', signal: request.signal };
      const next = new NextRequest(request.url, init as ConstructorParameters<typeof NextRequest>[1]);
      return route(next, { params: Promise.resolve({ id: id ?? '' }) });
    },
    { overrideGlobalObjects: false },
  );
  try {
    await fn(server.url);
  } finally {
    await server.close();
  }
}

const encode = (text: string) => new TextEncoder().encode(text);

describe('Next.js App Router route handlers', () => {
  it('attributes the user identify() reads from the request, with JSON bodies, params and a NextResponse', async () => {
    const POST = withTokenlay(
      async (request: NextRequest, { params }: { params: Promise<Record<string, string>> }) => {
        const { topic } = await request.json();
        const r = await stack.openai.chat.completions.create(chat(`${topic} ${(await params).id}`));
        const response = NextResponse.json({ answer: r.choices[0].message.content, usage: getTokenlayUsage() }, { status: 201 });
        response.cookies.set('seen', '1');
        return response;
      },
      { identify },
    );
    await withRoutes({ chat: POST }, async (url) => {
      const res = await postJson(url + '/chat/42', { topic: 'weather' }, bearer({ sub: 'alice', org_id: 'acme', plan: 'pro' }));
      expect(res.status).toBe(201);
      expect(res.headers['set-cookie']).toEqual(['seen=1; Path=/']);
      expect(res.json()).toEqual({ answer: 'hello alice', usage: { calls: 1, cost: 0, inputTokens: 10, outputTokens: 5 } });
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-org'], h['x-tokenlay-plan']]).toEqual(['alice', 'acme', 'pro']);
      expect(stack.provider.requests[0].body.messages[0].content).toBe('weather 42');
    });
  });

  it('keeps the scope for LLM calls made while a streamed body is being sent, and finishes when it is consumed', async () => {
    const finished: Array<{ usage: TokenlayUsage; path: string }> = [];
    const options: TokenlayNextOptions<NextRequest> = {
      identify,
      onFinish: (usage, request) => finished.push({ usage: { ...usage }, path: request.nextUrl.pathname }),
    };
    const pulled = withTokenlay(async () => {
      let part = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          // The first pull runs at once, in the handler; the later ones when the server reads.
          async pull(controller) {
            if (part === 0) {
              part++;
              return controller.enqueue(encode('answers:\n'));
            }
            if (part === 3) return controller.close();
            const r = await stack.openai.chat.completions.create(chat(`part ${part++}`));
            controller.enqueue(encode(r.choices[0].message.content + '\n'));
          },
        }),
        { headers: { 'content-type': 'text/plain' } },
      );
    }, options);
    const generated = withTokenlay(async () => {
      // Nothing in the generator runs before the server reads the body.
      const body = NodeReadableStream.from(
        (async function* () {
          for (let i = 0; i < 2; i++) {
            const chunks = await stack.openai.chat.completions.create({ ...chat(`part ${i}`), stream: true });
            for await (const chunk of chunks) yield encode(chunk.choices[0]?.delta?.content ?? '');
          }
        })(),
      );
      return new Response(body as ReadableStream<Uint8Array>);
    }, options);
    await withRoutes({ pulled, generated }, async (url) => {
      const a = await postJson(url + '/pulled', {}, bearer({ sub: 'bob' }));
      expect(a.body).toBe('answers:\n' + 'hello bob\n'.repeat(2));
      const b = await postJson(url + '/generated', {}, bearer({ sub: 'bea' }));
      expect(b.body).toBe('hello bea '.repeat(2));
      expect(stack.users()).toEqual(['bob', 'bob', 'bea', 'bea']);
      await eventually(() => finished.length === 2);
      expect(finished.map((f) => [f.path, f.usage.calls])).toEqual([
        ['/pulled', 2],
        ['/generated', 2],
      ]);
    });
  });

  it('finishes a streamed request whose client went away, and stops pulling its body', async () => {
    const finished: TokenlayUsage[] = [];
    let pulls = 0;
    const POST = withTokenlay(
      async () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              pulls++;
              // Stays on the wall clock: an endless body produced at a pace, so that the client's leaving lands mid-stream.
              await new Promise((r) => setTimeout(r, 5));
              controller.enqueue(encode('tick\n'));
            },
          }),
        ),
      { identify, onFinish: (usage) => finished.push(usage) },
    );
    await withRoutes({ forever: POST }, async (url) => {
      await send(url + '/forever', { method: 'POST', abortAfter: 50 });
      await eventually(() => finished.length === 1);
      const seen = pulls;
      // Stays on the wall clock: it checks an absence (no more pulls), so it gives pulls time to happen.
      await new Promise((r) => setTimeout(r, 50));
      expect(pulls - seen).toBeLessThanOrEqual(1);
    });
  });

  it('finishes a request whose handler threw, or that answered without a body', async () => {
    const finished: string[] = [];
    const onFinish = (_usage: TokenlayUsage, request: Request) => finished.push(new URL(request.url).pathname);
    const boom = withTokenlay(async () => {
      throw new Error('boom');
    }, { identify, onFinish });
    const empty = withTokenlay(async () => new Response(null, { status: 204 }), { identify, onFinish });
    const redirect = withTokenlay(async () => Response.redirect('http://127.0.0.1/elsewhere', 307), { identify, onFinish });
    await withRoutes({ boom, empty, redirect }, async (url) => {
      expect((await send(url + '/boom', { method: 'POST' })).status).toBe(500);
      expect((await send(url + '/empty', { method: 'POST' })).status).toBe(204);
      expect((await send(url + '/redirect', { method: 'POST' })).status).toBe(307);
      expect(finished).toEqual(['/boom', '/empty', '/redirect']);
    });
  });

  it('has no default identity, never forwards caller headers, and trusts them only when told', async () => {
    const report = async () => {
      await stack.openai.chat.completions.create(chat());
      return Response.json({});
    };
    const plain = withTokenlay(report);
    const trusting = withTokenlay(report, { trustHeaders: ['user', 'tier'] });
    await withRoutes({ plain, trusting }, async (url) => {
      await postJson(url + '/plain', {}, { 'x-tokenlay-user': 'admin', 'x-tokenlay-plan': 'enterprise', ...bearer({ sub: 'carol' }) });
      await postJson(url + '/trusting', {}, { 'x-tokenlay-user': 'upstream', 'x-tokenlay-plan': 'pro', 'x-tokenlay-org': 'no' });
      const [a, b] = stack.provider.requests.map((r) => r.headers);
      expect([a['x-tokenlay-user'], a['x-tokenlay-plan']]).toEqual([undefined, undefined]);
      expect([b['x-tokenlay-user'], b['x-tokenlay-plan'], b['x-tokenlay-org']]).toEqual(['upstream', 'pro', undefined]);
    });
  });

  it('takes an async identify, static fields and setTokenlayContext, in that order of strength', async () => {
    const POST = withTokenlay(
      async () => {
        setTokenlayContext({ plan: 'looked-up' });
        await stack.openai.chat.completions.create(chat());
        return Response.json({ usage: getTokenlayUsage() });
      },
      {
        fields: { project: 'support-bot', feature: 'default' },
        identify: async (request) => {
          // Stays on the wall clock: identify crosses a real timer hop, across which the scope must survive.
          await new Promise((r) => setTimeout(r, 5));
          return { user: request.headers.get('x-session-user'), feature: 'from-identify' };
        },
      },
    );
    await withRoutes({ chat: POST }, async (url) => {
      const res = await postJson(url + '/chat', {}, { 'x-session-user': 'dave' });
      const h = stack.provider.requests[0].headers;
      expect([h['x-tokenlay-user'], h['x-tokenlay-project'], h['x-tokenlay-feature'], h['x-tokenlay-plan']]).toEqual([
        'dave',
        'support-bot',
        'from-identify',
        'looked-up',
      ]);
      expect(res.json().usage.calls).toBe(1);
    });
  });

  it('leaves nothing behind on a keep-alive socket after a thrown error or an abort', async () => {
    const outside: unknown[] = [];
    const boom = withTokenlay(async () => {
      throw new Error('boom');
    }, { identify });
    const slow = withTokenlay(
      async (request: Request) => {
        await request.text();
        await stack.openai.chat.completions.create(chat());
        return new Response('late');
      },
      { identify },
    );
    const context = withTokenlay(async () => Response.json({ context: getTokenlayContext() ?? null }), { identify });
    await withRoutes(
      { boom, slow, context },
      async (url) => {
        const agent = oneSocket();
        try {
          const headers = bearer({ sub: 'erin' });
          expect((await send(url + '/boom', { method: 'POST', headers, agent })).status).toBe(500);
          expect((await send(url + '/missing', { headers, agent })).status).toBe(404);
          await send(url + '/slow', { method: 'POST', headers, body: 'x'.repeat(50_000), halfBody: true, abortAfter: 30 });
          stack.provider.options.behavior = () => ({ kind: 'delay', ms: 100 });
          await send(url + '/slow', { method: 'POST', headers, body: '{}', abortAfter: 30 });
          const last = await send(url + '/context', { method: 'POST', agent });
          expect(last.json().context).toEqual({});
          expect(outside).toEqual([undefined, undefined, undefined, undefined, undefined]);
        } finally {
          stack.provider.options.behavior = undefined;
          agent.destroy();
        }
      },
      outside,
    );
  });
});
