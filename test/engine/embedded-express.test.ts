import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import { expressjwt } from 'express-jwt';
import jwt from 'jsonwebtoken';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenlayOpenAI, TokenlayLimitError, TokenlayRulesError, getTokenlayMetadata } from '../../src/index.js';
import { tokenlay } from '../../adapters/express.js';
import { startProvider, type Provider } from '../support/provider.js';
import { eventually } from '../support/gate.js';
import { listen, type Listening } from '../support/http.js';

// Embedded mode end to end: an Express app, its auth, one shared TokenlayOpenAI with a YAML
// policy and a SQLite store, and the provider stand-in. No proxy anywhere.
const SECRET = 'embedded-secret';
const PROVIDER_KEY = 'sk-embedded-provider-key';
const RULES = `
version: '0.1'
rules:
  - id: free-tier
    if: { tier: free }
    then:
      model: gpt-3.5-turbo
      limits: [{ type: requests, max: 5, window: day, per: user }]
  - id: pro-tier
    priority: 2
    if: { tier: pro }
    then:
      model: gpt-4
      limits: [{ type: cost, max: 0.002, window: month, per: user }]
      on_limit_exceeded: { action: downgrade, downgrade_to: gpt-3.5-turbo }
`;

let dir: string;
let provider: Provider;
let openai: TokenlayOpenAI;
let app: Listening;
const finished: Array<{ user: string; calls: number; cost: number }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-embedded-'));
  writeFileSync(join(dir, 'rules.yaml'), RULES);
  provider = await startProvider();
  openai = new TokenlayOpenAI({
    providerApiKey: PROVIDER_KEY,
    providerApiBase: provider.base,
    policy: join(dir, 'rules.yaml'),
    store: `sqlite:${join(dir, 'usage.db')}`,
    maxRetries: 2,
  });
  const server = express();
  server.use(tokenlay({ onFinish: (usage, req: any) => finished.push({ user: req.auth?.sub, calls: usage.calls, cost: usage.cost }) }));
  server.use(expressjwt({ secret: SECRET, algorithms: ['HS256'] }));
  server.use(express.json());
  server.post('/chat', async (req, res) => {
    try {
      if (req.body?.stream) {
        const stream = await openai.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        res.json({ text: text.trim(), meta: getTokenlayMetadata(stream), usage: res.locals.tokenlay });
        return;
      }
      const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] });
      res.json({ text: completion.choices[0].message.content, model: completion.model, meta: getTokenlayMetadata(completion), usage: res.locals.tokenlay });
    } catch (err) {
      if (!(err instanceof TokenlayLimitError)) throw err;
      res.status(err.status ?? 429).json({ blocked: true, ruleId: err.ruleId, retryAfter: err.retryAfter, limit: err.limit });
    }
  });
  app = await listen(server);
});

afterAll(async () => {
  await app.close();
  await openai.close();
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (claims: object, body: object = {}) =>
  fetch(`${app.url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt.sign(claims, SECRET)}` },
    body: JSON.stringify(body),
  });

describe('embedded mode behind Express', () => {
  it('gives each of 10 free users exactly 5 calls out of 100 concurrent ones, and no provider sees a tokenlay header', async () => {
    const before = provider.requests.length;
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => post({ sub: `free-${i % 10}`, tier: 'free' }).then(async (r) => ({ user: `free-${i % 10}`, status: r.status, body: await r.json() }))),
    );
    for (let u = 0; u < 10; u++) {
      const mine = responses.filter((r) => r.user === `free-${u}`);
      expect(mine.filter((r) => r.status === 200)).toHaveLength(5);
      const blocked = mine.filter((r) => r.status === 429);
      expect(blocked).toHaveLength(5);
      expect(blocked[0].body).toMatchObject({ blocked: true, ruleId: 'free-tier', limit: { type: 'requests', window: 'day', max: 5 } });
      expect(blocked[0].body.retryAfter).toBeGreaterThan(0);
    }
    const reached = provider.requests.slice(before);
    expect(reached).toHaveLength(50);
    for (const r of reached) {
      expect(r.body.model).toBe('gpt-3.5-turbo');
      expect(r.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
      expect(Object.keys(r.headers).filter((h) => h.startsWith('x-tokenlay-'))).toEqual([]);
    }
  });

  it('downgrades a pro user once the monthly cost cap is spent, and says so in the metadata and the body', async () => {
    const models: string[] = [];
    let last: any;
    for (let i = 0; i < 4; i++) {
      const res = await post({ sub: 'pro-1', plan: 'pro' });
      last = await res.json();
      models.push(last.model);
    }
    expect(models[0]).toBe('gpt-4');
    expect(models.at(-1)).toBe('gpt-3.5-turbo');
    expect(last.meta).toMatchObject({ ruleId: 'pro-tier', limitExceeded: true, model: 'gpt-3.5-turbo' });
    expect(last.meta.warnings.join(' ')).toMatch(/downgraded to gpt-3.5-turbo/);
    expect(last.usage.calls).toBe(1);
  });

  it('meters a streamed call and rolls its cost up into the request', async () => {
    const res = await post({ sub: 'pro-2', plan: 'pro' }, { stream: true });
    const body = await res.json();
    expect(body.text).toBe('hello anonymous');
    expect(body.meta).toMatchObject({ ruleId: 'pro-tier', inputTokens: 10, outputTokens: 5 });
    expect(body.meta.cost).toBeGreaterThan(0);
    expect(body.usage).toEqual({ calls: 1, cost: body.meta.cost, inputTokens: 10, outputTokens: 5 });
    // onFinish runs once the response has finished on the server, which may come after the client has read it.
    await eventually(() => finished.some((f) => f.user === 'pro-2'), 'onFinish ran for the streamed call');
    expect(finished.find((f) => f.user === 'pro-2')).toEqual({ user: 'pro-2', calls: 1, cost: body.meta.cost });
  });

  it('refuses a malformed policy file at construction, listing every problem', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'rules:\n  - id: x\n    if: { tier: free }\n    then: { limits: [{ type: dollars, max: -1, window: week, per: user }] }\n');
    const build = () => new TokenlayOpenAI({ providerApiKey: 'k', providerApiBase: provider.base, policy: bad, store: 'memory' });
    expect(build).toThrow(TokenlayRulesError);
    expect(build).toThrow(/rules\[0\]\.then\.limits\[0\]\.type[\s\S]*rules\[0\]\.then\.limits\[0\]\.window/);
  });
});
