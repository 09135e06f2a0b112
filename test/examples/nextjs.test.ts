// examples/nextjs: an App Router route handler wrapped in withTokenlay, identify() reading the
// app's own signed session (cookie or bearer), one shared TokenlayOpenAI; built and served by `npm start`.
import jsonwebtoken from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvider, type Provider } from '../support/provider.js';
import { installExample, lastMessage, postJson, promptLengthUsage, STAND_IN_KEY, startExample, STREAMED_OUTPUT_TOKENS, type RunningExample } from './support.js';

type DemoUser = 'alice' | 'bob';
const PASSWORD: Record<DemoUser, string> = { alice: 'alice-pw', bob: 'bob-pw' };
const MODEL: Record<DemoUser, string> = { alice: 'gpt-4o-mini', bob: 'gpt-4o' };
const FREE_MESSAGE = 'The free plan allows 3 answers a day; upgrade to pro for more.';
const SESSION_SECRET = 'smoke-test-session-secret-of-32-characters';
const prompt = (user: DemoUser, i: number) => `${user} asks ${i}${'?'.repeat(i * 2 + (user === 'bob' ? 1 : 0))}`;

/** The events of a server-sent event stream: `{ event, data }`, data parsed as JSON. */
function events(text: string): Array<{ event: string; data: any }> {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length) ?? 'message';
      return { event, data: JSON.parse(lines.find((line) => line.startsWith('data: '))!.slice('data: '.length)) };
    });
}

describe('examples/nextjs', () => {
  let provider: Provider;
  let app: RunningExample;
  // alice signs in with the session cookie, bob with the bearer token: identify() reads either.
  const session = {} as Record<DemoUser, Record<string, string>>;
  const chat = (user: DemoUser | null, body: object, headers = user ? session[user] : {}) => postJson(`${app.url}/api/chat`, body, headers);
  const stream = async (user: DemoUser, text: string) => {
    const res = await fetch(`${app.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...session[user] },
      body: JSON.stringify({ prompt: text, stream: true }),
      signal: AbortSignal.timeout(15_000),
    });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  beforeAll(() => installExample('nextjs'), 300_000);
  beforeAll(async () => {
    provider = await startProvider({ usage: promptLengthUsage });
    // `npm start` is `next build && next start`: the build takes most of this.
    app = await startExample('nextjs', {
      providerBase: provider.base,
      env: { SESSION_SECRET, NEXT_TELEMETRY_DISABLED: '1' },
      readyPath: '/api/login',
      readyTimeoutMs: 150_000,
    });
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await provider?.close();
  });

  it('signs alice in with a session cookie and bob with a bearer token, and refuses a wrong password', async () => {
    const alice = await postJson(`${app.url}/api/login`, { username: 'alice', password: PASSWORD.alice });
    expect(alice.status).toBe(200);
    const cookie = alice.headers.getSetCookie().find((c) => c.startsWith('session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    session.alice = { cookie: cookie.split(';')[0]! };
    const bob = await postJson(`${app.url}/api/login`, { username: 'bob', password: PASSWORD.bob });
    session.bob = { authorization: `Bearer ${bob.body.token}` };
    expect((await postJson(`${app.url}/api/login`, { username: 'bob', password: 'guess' })).status).toBe(401);
  });

  it("attributes concurrent calls of alice and bob each to its own user: the plan's model, the request's own roll-up", async () => {
    const asked = [1, 2, 3].flatMap((i) => (['alice', 'bob'] as const).map((user) => ({ user, text: prompt(user, i) })));
    const answers = await Promise.all(asked.map(({ user, text }) => chat(user, { prompt: text })));
    for (const [i, { user, text }] of asked.entries()) {
      const { status, body } = answers[i]!;
      expect(status, `${user}: ${JSON.stringify(body)}`).toBe(200);
      expect(body.model).toBe(MODEL[user]);
      expect(body.usage).toMatchObject({ calls: 1, inputTokens: text.length, outputTokens: 5 });
      expect(body.usage.cost).toBeGreaterThan(0);
    }
    // What the provider saw: each prompt on the model its asker's plan routes to, and no tokenlay header.
    expect(provider.requests).toHaveLength(asked.length);
    for (const request of provider.requests) {
      const asker = asked.find(({ text }) => text === lastMessage(request))!;
      expect(request.body.model, asker.text).toBe(MODEL[asker.user]);
      expect(Object.keys(request.headers).filter((name) => name.startsWith('x-tokenlay-'))).toEqual([]);
    }
  });

  it("refuses alice's 4th call of the day, plain or streamed, with 429 and the free rule's message; it never reaches the provider", async () => {
    const before = provider.requests.length;
    const refused = await chat('alice', { prompt: prompt('alice', 4) });
    expect(refused.status, JSON.stringify(refused.body)).toBe(429);
    expect(refused.body.error).toMatchObject({ message: FREE_MESSAGE, type: 'tokenlay_limit_exceeded' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const streamed = await stream('alice', prompt('alice', 5));
    expect(streamed.status).toBe(429);
    expect(JSON.parse(streamed.text).error.message).toBe(FREE_MESSAGE);
    expect(provider.requests).toHaveLength(before);
  });

  it("meters bob's streamed call: the stream ends with the request's roll-up, from the stream's own usage", async () => {
    const text = prompt('bob', 9);
    const streamed = await stream('bob', text);
    expect(streamed.status).toBe(200);
    expect(streamed.type).toBe('text/event-stream');
    const received = events(streamed.text);
    expect(received.filter((e) => e.event === 'message').map((e) => e.data.text).join('')).toContain('hello');
    const usage = received.at(-1)!;
    expect(usage.event).toBe('usage');
    expect(usage.data).toMatchObject({ calls: 1, inputTokens: text.length, outputTokens: STREAMED_OUTPUT_TOKENS });
    expect(usage.data.cost).toBeGreaterThan(0);
    expect(provider.requests.at(-1)!.body).toMatchObject({ model: MODEL.bob, stream: true });
  });

  it('answers 401 without a session or with a forged one, and calls no model', async () => {
    const before = provider.requests.length;
    const forged = jsonwebtoken.sign({ sub: 'alice', plan: 'pro' }, 'not-the-app-secret-not-the-app-secret', { algorithm: 'HS256' });
    for (const headers of [{}, { authorization: `Bearer ${forged}` }, { cookie: `session=${forged}` }] as Record<string, string>[]) {
      const { status } = await chat(null, { prompt: 'who am I?' }, headers);
      expect(status, JSON.stringify(headers)).toBe(401);
    }
    expect(provider.requests).toHaveLength(before);
  });

  it('never prints the provider key or the session secret', () => {
    expect(app.output()).not.toContain(STAND_IN_KEY);
    expect(app.output()).not.toContain(SESSION_SECRET);
  });
});
