import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProvider, type Provider } from '../support/provider.js';
import { serveApp, type RunningApp, type RuntimeName } from './harness.js';

// TokenlayOpenAI in remote mode, tokenlayFetch, createTokenlayFetch and the Hono adapter on the
// runtimes Hono apps deploy to, each from its npm package (bun, deno, workerd).

const SECRET = 'runtime-test-secret';
const USERS = ['alice', 'bob'] as const;
const ROUTES = ['client', 'stream', 'fetch', 'create-fetch'] as const;
const CALLS_PER_USER_AND_ROUTE = 8;

let provider: Provider;
useProvider((p) => (provider = p));

const cases: Array<{ runtime: RuntimeName; flags?: string[]; label: string }> = [
  { runtime: 'bun', label: 'Bun' },
  { runtime: 'deno', label: 'Deno' },
  { runtime: 'workerd', flags: ['nodejs_als'], label: 'Cloudflare Workers (workerd, nodejs_als)' },
  { runtime: 'workerd', flags: ['nodejs_compat'], label: 'Cloudflare Workers (workerd, nodejs_compat)' },
];

describe.each(cases)('$label', ({ runtime, flags }) => {
  let app: RunningApp;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    for (const user of USERS) tokens[user] = await sign({ sub: user }, SECRET, 'HS256');
    app = await serveApp(runtime, { PROXY_URL: provider.url, JWT_SECRET: SECRET }, flags);
  });
  afterAll(async () => {
    await app?.close();
  });

  const call = (route: string, user: string) =>
    fetch(`${app.url}/call/${route}`, { method: 'POST', headers: { authorization: `Bearer ${tokens[user]}` } });

  it(`sends ${USERS.length * ROUTES.length * CALLS_PER_USER_AND_ROUTE} calls of two users concurrently through all four paths with zero misattributions`, async () => {
    provider.options.proxyAnswers = true;
    // Answers come back out of order, so the calls of both users overlap inside the runtime.
    provider.options.behavior = (r) => ({ kind: 'delay', ms: (r.body?.stream ? 3 : 0) + Math.floor(Math.random() * 15) });
    const sent: Array<{ route: string; user: string; answer: Promise<Response> }> = [];
    for (let i = 0; i < CALLS_PER_USER_AND_ROUTE; i++) {
      for (const route of ROUTES) for (const user of USERS) sent.push({ route, user, answer: call(route, user) });
    }
    const answers = await Promise.all(sent.map(async (s) => ({ ...s, res: await s.answer })));
    for (const { route, user, res } of answers) {
      const text = await res.text();
      expect(res.status, `${route} for ${user}: ${text}\n${app.output()}`).toBe(200);
      const body = JSON.parse(text);
      // The stand-in answers with the x-tokenlay-user it received; the roll-up is this request's only.
      expect(body, `${route} for ${user}`).toEqual({ text: `hello ${user}`, cost: 0.0015, usage: { calls: 1, cost: 0.0015, inputTokens: 10, outputTokens: 5 } });
    }
    expect(provider.requests).toHaveLength(sent.length);
    for (const user of USERS) {
      expect(provider.requests.filter((r) => r.headers['x-tokenlay-user'] === user)).toHaveLength(sent.length / USERS.length);
    }
    for (const r of provider.requests) {
      expect(r.path).toBe('/v1/chat/completions');
      expect(r.headers.authorization).toBe('Bearer tl-runtime');
    }
    // tokenlayFetch adds fields only; the client and createTokenlayFetch also name the provider key.
    const withProviderKey = provider.requests.filter((r) => r.headers['x-tokenlay-provider-key'] === 'sk-provider-runtime');
    expect(withProviderKey).toHaveLength((sent.length * 3) / 4);
  });

  it('refuses a call without a valid token before anything reaches the provider', async () => {
    const res = await fetch(`${app.url}/call/client`, { method: 'POST', headers: { authorization: 'Bearer not-a-jwt' } });
    expect(res.status).toBe(401);
    expect(provider.requests).toHaveLength(0);
  });

  if (runtime === 'workerd') {
    it('answers embedded mode with an error that points to remote mode and the gateway', async () => {
      const body = await (await fetch(`${app.url}/embedded`)).json();
      expect(body).toMatchObject({ ok: false, name: 'TokenlayConfigError' });
      expect(body.message).toMatch(/which Cloudflare Workers cannot run\. Use remote mode: set tokenlayKey \(env TOKENLAY_KEY\).*`tokenlay gateway`/);
    });
  }
});
