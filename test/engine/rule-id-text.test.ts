import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { tokenlay, tokenlayErrorHandler } from '../../adapters/express.js';
import { runWithTokenlay, TokenlayLimitError, TokenlayOpenAI } from '../../src/index.js';
import { listen, type Listening } from '../support/http.js';
import { startProvider, type Provider } from '../support/provider.js';

const servers: Array<Listening | Provider> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

describe('a rule id that is not ASCII', () => {
  it('is decoded from the x-tokenlay-rule-id header of a block into TokenlayLimitError.ruleId', async () => {
    // A proxy that names the rule only in its header, percent-encoded as docs/protocol.md §1 says.
    const proxy = await listen((req: any, res: any) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(429, { 'content-type': 'application/json', 'x-tokenlay-rule-action': 'block', 'x-tokenlay-rule-id': 'r%C3%A9gime-%C3%BC', 'x-should-retry': 'false' });
        res.end(JSON.stringify({ error: { message: 'over the limit', type: 'rate_limit_error', code: null, param: null } }));
      });
    });
    servers.push(proxy);
    const openai = new TokenlayOpenAI({ providerApiKey: 'sk-test', tokenlayKey: 'tl-test', tokenlayBaseUrl: proxy.url, maxRetries: 0 });
    const error = await runWithTokenlay({ user: 'ana' }, () => openai.chat.completions.create(ask)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenlayLimitError);
    expect((error as TokenlayLimitError).ruleId).toBe('régime-ü');
  });

  it("is answered by Express's tokenlayErrorHandler as a 429 with the id encoded, not a crash", async () => {
    const provider = await startProvider();
    servers.push(provider);
    const rules = { rules: [{ id: 'régime-ü', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] } }] };
    const openai = new TokenlayOpenAI({ providerApiKey: 'sk-test', providerApiBase: provider.base, policy: rules, store: 'memory', maxRetries: 0 });
    const app = express();
    app.use(tokenlay({ identify: () => ({ user: 'ana' }) }));
    app.post('/chat', async (_req, res) => {
      res.json(await openai.chat.completions.create(ask));
    });
    app.use(tokenlayErrorHandler());
    const server = await listen(app);
    servers.push(server);
    try {
      expect((await fetch(`${server.url}/chat`, { method: 'POST' })).status).toBe(200);
      const blocked = await fetch(`${server.url}/chat`, { method: 'POST' });
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('x-tokenlay-rule-id')).toBe('r%C3%A9gime-%C3%BC');
      expect((await blocked.json()).error.tokenlay.rule_id).toBe('régime-ü');
    } finally {
      await openai.close();
    }
  });
});
