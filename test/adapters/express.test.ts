import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import express5 from 'express';
import express4 from 'express4';
import { expressjwt } from 'express-jwt';
import jwt from 'jsonwebtoken';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import multer from 'multer';
import request from 'supertest';
import { EventEmitter } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import {
  TokenlayOpenAI,
  bindTokenlay,
  getTokenlayContext,
  getTokenlayUsage,
  resolveTokenlayContext,
  runWithTokenlay,
  setTokenlayContext,
  type TokenlayUsage,
} from '../../src/index.js';
import { tokenlay } from '../../adapters/express.js';
import { startProvider, type Provider } from '../support/provider.js';
import { listen } from '../support/http.js';
import { eventually } from './helpers.js';

const SECRET = 'test-jwt-secret';
const token = (claims: object) => jwt.sign(claims, SECRET);

let provider: Provider;
let openai: TokenlayOpenAI;
beforeAll(async () => {
  provider = await startProvider();
  openai = new TokenlayOpenAI({ providerApiKey: 'sk-p', tokenlayKey: 'tl-k', tokenlayBaseUrl: provider.url, maxRetries: 0 });
});
afterAll(() => provider.close());
afterEach(() => provider.reset());

const chat = (content = 'hi') => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

passport.use(
  new LocalStrategy((username, _password, done) => done(null, { id: `id-${username}`, orgId: 'org-local', tier: 'pro' })),
);

describe.each([
  ['Express 5', express5 as unknown as typeof express5],
  ['Express 4', express4 as unknown as typeof express5],
])('%s', (_name, express) => {
  const jwtAuth = expressjwt({ secret: SECRET, algorithms: ['HS256'], credentialsRequired: false });

  async function callAndReport(req: express5.Request, res: express5.Response) {
    const r = await openai.chat.completions.create(chat());
    res.json({ answer: r.choices[0].message.content, seen: provider.requests.at(-1)?.headers['x-tokenlay-user'] ?? null });
  }

  it('attributes the user when tokenlay() comes before express-jwt', async () => {
    const app = express();
    app.use(tokenlay());
    app.use(jwtAuth);
    app.post('/chat', callAndReport);
    const res = await request(app).post('/chat').set('authorization', `Bearer ${token({ sub: 'alice', org_id: 'acme', plan: 'pro' })}`);
    expect(res.body.answer).toBe('hello alice');
    const h = provider.requests[0].headers;
    expect([h['x-tokenlay-user'], h['x-tokenlay-org'], h['x-tokenlay-plan']]).toEqual(['alice', 'acme', 'pro']);
  });

  it('attributes the user when tokenlay() comes after express-jwt', async () => {
    const app = express();
    app.use(jwtAuth);
    app.use(tokenlay());
    app.post('/chat', callAndReport);
    await request(app).post('/chat').set('authorization', `Bearer ${token({ sub: 'bob' })}`);
    expect(provider.requests[0].headers['x-tokenlay-user']).toBe('bob');
  });

  it('keeps the scope through express.json() and passport-local mounted after tokenlay()', async () => {
    const app = express();
    app.use(tokenlay());
    app.use(express.json());
    app.use(passport.initialize());
    app.post('/chat', passport.authenticate('local', { session: false }), callAndReport);
    const res = await request(app).post('/chat').send({ username: 'carol', password: 'x' });
    expect(res.status).toBe(200);
    const h = provider.requests[0].headers;
    expect([h['x-tokenlay-user'], h['x-tokenlay-org'], h['x-tokenlay-plan']]).toEqual(['id-carol', 'org-local', 'pro']);
  });

  it('keeps the scope through a multipart upload parsed after tokenlay()', async () => {
    const app = express();
    app.use(tokenlay({ identify: (req: any) => ({ user: req.body?.owner }) }));
    app.post('/upload', multer().single('file'), async (req: any, res) => {
      const r = await openai.chat.completions.create(chat(`file of ${req.file.size} bytes`));
      res.json({ answer: r.choices[0].message.content });
    });
    const res = await request(app).post('/upload').field('owner', 'dave').attach('file', Buffer.alloc(200_000, 1), 'big.bin');
    expect(res.body.answer).toBe('hello dave');
  });

  it('keeps the scope through a hand-written body reader fed slowly from the socket', async () => {
    const app = express();
    app.use(tokenlay({ identify: (req: any) => ({ user: req.rawUser }) }));
    // Like many apps' own readers: `next()` runs from the stream's 'end' event, i.e. the socket's context.
    app.use((req: any, _res, next) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c));
      req.once('end', () => {
        req.rawUser = JSON.parse(text).user;
        next();
      });
    });
    app.post('/chat', callAndReport);
    const server = await listen(app);
    try {
      const body = JSON.stringify({ user: 'slow-sam', pad: 'x'.repeat(2000) });
      const out = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(
          server.url + '/chat',
          { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            let b = '';
            res.on('data', (c) => (b += c));
            res.on('end', () => resolve(b));
          },
        );
        req.on('error', reject);
        req.flushHeaders();
        // Stays on the wall clock: the body arrives in pieces apart in time, as a slow client sends it.
        setTimeout(() => {
          req.write(body.slice(0, 1000));
          setTimeout(() => req.end(body.slice(1000)), 30);
        }, 30);
      });
      expect(JSON.parse(out).answer).toBe('hello slow-sam');
    } finally {
      await server.close();
    }
  });

  it('sends no user field for a request with no authenticated user', async () => {
    const app = express();
    app.use(tokenlay());
    app.use(jwtAuth);
    app.post('/chat', callAndReport);
    const res = await request(app).post('/chat');
    expect(res.body.seen).toBeNull();
    expect(provider.requests[0].headers['x-tokenlay-user']).toBeUndefined();
  });

  it('never forwards x-tokenlay-* headers sent by the caller', async () => {
    const app = express();
    app.use(tokenlay());
    app.use(jwtAuth);
    app.post('/chat', callAndReport);
    await request(app).post('/chat').set('x-tokenlay-user', 'admin').set('x-tokenlay-plan', 'enterprise');
    await request(app).post('/chat').set('x-tokenlay-user', 'admin').set('authorization', `Bearer ${token({ sub: 'erin' })}`);
    expect(provider.requests[0].headers['x-tokenlay-user']).toBeUndefined();
    expect(provider.requests[0].headers['x-tokenlay-plan']).toBeUndefined();
    expect(provider.requests[1].headers['x-tokenlay-user']).toBe('erin');
  });

  it('reads caller headers only with trustHeaders, and only the fields listed', async () => {
    const app = express();
    app.use(tokenlay({ trustHeaders: ['user', 'tier'] }));
    app.post('/chat', callAndReport);
    await request(app).post('/chat').set('x-tokenlay-user', 'upstream%20user').set('x-tokenlay-plan', 'pro').set('x-tokenlay-org', 'not-trusted');
    const h = provider.requests[0].headers;
    expect(h['x-tokenlay-user']).toBe('upstream%20user');
    expect(h['x-tokenlay-plan']).toBe('pro');
    expect(h['x-tokenlay-org']).toBeUndefined();
  });

  it('takes an async identify, static fields and setTokenlayContext, in that order of strength', async () => {
    const app = express();
    app.use(
      tokenlay({
        fields: { project: 'support-bot', feature: 'default' },
        identify: async (req) => {
          // Stays on the wall clock: identify crosses a real timer hop, across which the scope must survive.
          await new Promise((r) => setTimeout(r, 5));
          return { user: String(req.headers['x-session-user']), feature: 'from-identify' };
        },
      }),
    );
    app.post('/chat', async (_req, res) => {
      setTokenlayContext({ plan: 'looked-up' });
      const before = getTokenlayContext();
      await openai.chat.completions.create(chat());
      res.json({ before });
    });
    const res = await request(app).post('/chat').set('x-session-user', 'frank');
    const h = provider.requests[0].headers;
    expect([h['x-tokenlay-user'], h['x-tokenlay-project'], h['x-tokenlay-feature'], h['x-tokenlay-plan']]).toEqual([
      'frank',
      'support-bot',
      'from-identify',
      'looked-up',
    ]);
    expect(res.body.before.plan).toBe('looked-up');
  });

  it('exposes the roll-up on res.locals.tokenlay and to onFinish', async () => {
    const finished: Array<{ usage: TokenlayUsage; path: string }> = [];
    const app = express();
    app.use(tokenlay({ onFinish: (usage, req) => finished.push({ usage: { ...usage }, path: req.url ?? '' }) }));
    app.post('/twice', async (_req, res) => {
      await openai.chat.completions.create(chat());
      await runWithTokenlay({ feature: 'inner' }, () => openai.chat.completions.create(chat()));
      res.json({ locals: res.locals.tokenlay, usage: getTokenlayUsage() });
    });
    const res = await request(app).post('/twice');
    expect(res.body.locals).toEqual({ calls: 2, cost: 0, inputTokens: 20, outputTokens: 10 });
    expect(res.body.usage).toEqual(res.body.locals);
    // onFinish runs when the response has finished on the server, which may come after the client has it.
    await eventually(() => finished.length > 0);
    expect(finished).toEqual([{ usage: { calls: 2, cost: 0, inputTokens: 20, outputTokens: 10 }, path: '/twice' }]);
  });

  it('carries the scope into callbacks bound with bindTokenlay', async () => {
    const bus = new EventEmitter();
    bus.on('job', (fn: () => void) => setImmediate(fn));
    const app = express();
    app.use(tokenlay());
    app.use(jwtAuth);
    app.post('/queue', (_req, res) => {
      bus.emit(
        'job',
        bindTokenlay(async () => {
          await openai.chat.completions.create(chat());
          res.json({ ok: true });
        }),
      );
    });
    await request(app).post('/queue').set('authorization', `Bearer ${token({ sub: 'gina' })}`);
    expect(provider.requests[0].headers['x-tokenlay-user']).toBe('gina');
  });

  it('leaves nothing behind on a keep-alive socket after a 404 or a thrown error', async () => {
    const app = express();
    app.use(tokenlay());
    app.use(jwtAuth);
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.post('/chat', async (_req, res) => {
      res.json({ context: getTokenlayContext() ?? null });
    });
    app.use((_err: unknown, _req: unknown, res: express5.Response, _next: unknown) => {
      res.status(500).json({ error: 'boom' });
    });
    const server = await listen(app);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(server.url + path, { method, agent, headers }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect((await send('GET', '/boom', { authorization: `Bearer ${token({ sub: 'henry' })}` })).status).toBe(500);
      expect((await send('GET', '/missing', { authorization: `Bearer ${token({ sub: 'henry' })}` })).status).toBe(404);
      const last = await send('POST', '/chat');
      expect(JSON.parse(last.body).context).toEqual({});
    } finally {
      agent.destroy();
      await server.close();
    }
  });
});

describe('Connect-style servers', () => {
  it('works as plain (req, res, next) middleware on a bare Node server, with onFinish', async () => {
    const finished: TokenlayUsage[] = [];
    const middleware = tokenlay({ identify: (req) => ({ user: String(req.headers['x-user']) }), onFinish: (usage) => finished.push({ ...usage }) });
    const server = await listen((req, res) =>
      middleware(req, res, async () => {
        const r = await openai.chat.completions.create(chat());
        res.end(r.choices[0].message.content);
      }),
    );
    try {
      const res = await fetch(server.url, { headers: { 'x-user': 'connect-user' } });
      expect(await res.text()).toBe('hello connect-user');
      await eventually(() => finished.length > 0);
      expect(finished).toEqual([{ calls: 1, cost: 0, inputTokens: 10, outputTokens: 5 }]);
    } finally {
      await server.close();
    }
  });
});

describe('scope functions', () => {
  it('setTokenlayContext throws outside a scope, saying how to open one', () => {
    expect(() => setTokenlayContext({ user: 'x' })).toThrow(/outside a request scope.*app\.use\(tokenlay\(\)\).*runWithTokenlay/);
  });

  it('resolveTokenlayContext awaits an async identify that getTokenlayContext cannot yet see', async () => {
    const app = express5();
    app.use(tokenlay({ identify: async () => ({ user: 'late-user' }) }));
    app.get('/', async (_req, res) => {
      const before = getTokenlayContext();
      const resolved = await resolveTokenlayContext();
      res.json({ before, resolved, after: getTokenlayContext() });
    });
    const res = await request(app).get('/');
    expect(res.body).toEqual({ before: {}, resolved: { user: 'late-user' }, after: { user: 'late-user' } });
    expect(await resolveTokenlayContext()).toBeUndefined();
  });

  it('getTokenlayContext is undefined outside a scope and merges nested scopes inside', async () => {
    expect(getTokenlayContext()).toBeUndefined();
    await runWithTokenlay({ user: 'a', org: 'o' }, async () => {
      await runWithTokenlay({ user: 'b' }, async () => {
        expect(getTokenlayContext()).toEqual({ user: 'b', org: 'o' });
      });
      expect(getTokenlayContext()).toEqual({ user: 'a', org: 'o' });
    });
  });
});
