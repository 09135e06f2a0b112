import express from 'express';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { tokenlay, tokenlayErrorHandler } from '../../adapters/express.js';
import { createTokenlayFetch } from '../../src/index.js';
import { listen, type Listening } from '../support/http.js';
import { startProvider, type Provider } from '../support/provider.js';

const open: Array<Listening | Provider> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

describe('tokenlayErrorHandler and blocks that another SDK reports', () => {
  it("answers the plain OpenAI SDK's RateLimitError for a block served by createTokenlayFetch as the engine's 429", async () => {
    const provider = await startProvider();
    open.push(provider);
    const rules = { rules: [{ id: 'one-a-day', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }], on_limit_exceeded: { action: 'block', error_message: 'One call a day on this plan.' } } }] };
    // Another SDK built on fetch: the block reaches the route as that SDK's own error type.
    const sdk = new OpenAI({ apiKey: 'sk-test', baseURL: provider.base, maxRetries: 0, fetch: createTokenlayFetch({ policy: rules, store: 'memory' }) });
    const app = express();
    app.use(tokenlay({ identify: () => ({ user: 'ana' }) }));
    app.post('/chat', async (_req, res) => {
      res.json(await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    });
    app.use(tokenlayErrorHandler());
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send(err.name));
    const server = await listen(app);
    open.push(server);
    expect((await fetch(`${server.url}/chat`, { method: 'POST' })).status).toBe(200);
    const blocked = await fetch(`${server.url}/chat`, { method: 'POST' });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('x-tokenlay-rule-id')).toBe('one-a-day');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await blocked.json()).error).toMatchObject({ message: 'One call a day on this plan.', type: 'tokenlay_limit_exceeded' });
    expect(provider.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);
  });

  it('leaves an ordinary 429 of the provider to the next error handler', async () => {
    const provider = await startProvider({ behavior: () => ({ kind: 'status', status: 429 }) });
    open.push(provider);
    const sdk = new OpenAI({ apiKey: 'sk-test', baseURL: provider.base, maxRetries: 0 });
    const app = express();
    app.post('/chat', async (_req, res) => {
      res.json(await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    });
    app.use(tokenlayErrorHandler());
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
      void res.status(500).send(err instanceof OpenAI.RateLimitError ? 'RateLimitError' : err.name),
    );
    const server = await listen(app);
    open.push(server);
    const answer = await fetch(`${server.url}/chat`, { method: 'POST' });
    expect(answer.status).toBe(500);
    expect(await answer.text()).toBe('RateLimitError');
  });
});
