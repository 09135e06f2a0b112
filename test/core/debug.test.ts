import { describe, expect, it } from 'vitest';
import express from 'express';
import { TokenlayOpenAI, createTokenlayFetch, runWithTokenlay } from '../../src/index.js';
import { tokenlay } from '../../adapters/express.js';
import { useProvider, type Provider } from '../support/provider.js';
import { listen } from '../support/http.js';
import { createStore } from '../../src/store/index.js';
import { breakdownUsage } from '../../src/store/usage-breakdown.js';

const PROVIDER_KEY = 'sk-provider-secret-0123456789';
const TOKENLAY_KEY = 'tl-secret-key-abcdef';
const PROMPT = 'a private prompt that must never be logged';

let provider: Provider;
useProvider((p) => (provider = p));

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: PROMPT }] };

/** Lines written with console.error while `fn` runs. */
async function stderrLines(fn: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const saved = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  try {
    await fn();
  } finally {
    console.error = saved;
  }
  return lines.filter((l) => l.startsWith('tokenlay: call'));
}

// First in the file: the warning is once per process, and needs no middleware created before it.
describe('a call outside every request scope', () => {
  it('warns once, and only in a process where a tokenlay() middleware is installed', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if ((w as Error & { code?: string }).code === 'TOKENLAY_OUTSIDE_SCOPE') warnings.push(w);
    };
    process.on('warning', onWarning);
    const settle = () => new Promise((r) => setImmediate(r));
    try {
      const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, maxRetries: 0 });
      // A script or job with no middleware: calls outside a scope are normal.
      await openai.chat.completions.create(chat);
      await settle();
      expect(warnings).toHaveLength(0);
      tokenlay();
      await openai.chat.completions.create(chat);
      await settle();
      expect(warnings).toHaveLength(1);
      expect(warnings[0].message).toMatch(/outside every request scope.*tokenlay\(\) middleware/);
      await openai.chat.completions.create(chat);
      await runWithTokenlay({ user: 'inside' }, () => openai.chat.completions.create(chat));
      await settle();
      expect(warnings).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('the debug line', () => {
  it('logs one line per call with the mode, each field and where it came from, the model, rule and action; never keys or prompts', async () => {
    provider.options.proxyAnswers = true;
    const openai = new TokenlayOpenAI({
      providerApiKey: PROVIDER_KEY,
      tokenlayKey: TOKENLAY_KEY,
      tokenlayBaseUrl: provider.url,
      maxRetries: 0,
      debug: true,
      metadata: { feature: 'client-feature' },
    });
    const app = express();
    app.use(tokenlay({ identify: () => ({ user: 'ann' }), fields: { project: 'support' } }));
    app.post('/chat', async (_req, res) => {
      await openai.chat.completions.create({ ...chat, metadata: { tier: 'pro' } }, { headers: { 'x-tokenlay-org': 'acme' } });
      res.json({});
    });
    const server = await listen(app);
    let lines: string[];
    try {
      lines = await stderrLines(() => fetch(server.url + '/chat', { method: 'POST' }));
    } finally {
      await server.close();
    }
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toContain('mode=remote');
    expect(line).toContain('model=gpt-4o-mini');
    expect(line).toContain('user="ann" (identify)');
    expect(line).toContain('project="support" (scope)');
    expect(line).toContain('feature="client-feature" (client metadata)');
    expect(line).toContain('plan="pro" (call metadata)');
    expect(line).toContain('org="acme" (call headers)');
    expect(line).toContain('rule=stand-in-rule action=allow');
    expect(line).not.toContain(PROVIDER_KEY);
    expect(line).not.toContain(TOKENLAY_KEY);
    expect(line).not.toContain(PROMPT);
    // The debug id travels from the client to its transport only.
    expect(Object.keys(provider.requests[0].headers).filter((h) => h.includes('debug'))).toEqual([]);
  });

  it('is turned on by TOKENLAY_DEBUG=1 and reports embedded rules', async () => {
    const saved = process.env.TOKENLAY_DEBUG;
    process.env.TOKENLAY_DEBUG = '1';
    try {
      const policy = { rules: [{ id: 'ten-a-day', if: {}, then: { limits: [{ type: 'requests', max: 10, window: 'day', per: 'user' }] } }] };
      const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy, store: 'memory', maxRetries: 0 });
      const lines = await stderrLines(() => runWithTokenlay({ user: 'emb' }, () => openai.chat.completions.create(chat)));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('mode=embedded');
      expect(lines[0]).toContain('user="emb" (scope)');
      expect(lines[0]).toContain('rule=ten-a-day action=allow');
      expect(lines[0]).not.toContain(PROVIDER_KEY);
      await openai.close();
    } finally {
      if (saved === undefined) delete process.env.TOKENLAY_DEBUG;
      else process.env.TOKENLAY_DEBUG = saved;
    }
  });

  it('logs a line per call from createTokenlayFetch too, in both modes', async () => {
    const body = JSON.stringify(chat);
    const remote = createTokenlayFetch({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, debug: true });
    const policy = { rules: [{ id: 'fetch-rule', if: {}, then: { limits: [{ type: 'requests', max: 10, window: 'day', per: 'user' }] } }] };
    const embedded = createTokenlayFetch({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy, store: 'memory', debug: true });
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
    const lines = await stderrLines(() =>
      runWithTokenlay({ user: 'fetcher' }, async () => {
        await remote('https://api.openai.com/v1/chat/completions', init);
        await (await embedded('https://api.openai.com/v1/chat/completions', init)).text();
      }),
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/mode=remote model=gpt-4o-mini user="fetcher" \(scope\)/);
    expect(lines[1]).toMatch(/mode=embedded model=gpt-4o-mini user="fetcher" \(scope\).*rule=fetch-rule action=allow/);
    for (const line of lines) expect(line).not.toContain(PROMPT);
    expect(provider.requests).toHaveLength(2);
    for (const r of provider.requests) expect(Object.keys(r.headers).filter((h) => h.includes('debug'))).toEqual([]);
  });

  it('names the model a rule routed the call to; a refused call that named no model is grouped under the routed model, not (none)', async () => {
    const policy = {
      rules: [
        { id: 'route-free', if: { plan: 'free' }, then: { model: 'gpt-4o-mini', limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] } },
      ],
    };
    const store = createStore('memory');
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy, store, maxRetries: 0, debug: true });
    const unnamed = { messages: chat.messages } as unknown as typeof chat;
    const lines = await stderrLines(() =>
      runWithTokenlay({ user: 'fay', plan: 'free' }, async () => {
        await openai.chat.completions.create(unnamed);
        await openai.chat.completions.create(unnamed).catch(() => undefined);
      }),
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('model=gpt-4o-mini user="fay"');
    expect(lines[0]).toContain('status=200 rule=route-free');
    expect(lines[1]).toContain('status=429 rule=route-free action=block');
    await openai.close();
    const rows = await store.ledger();
    // The answered call named no model (its row says so); the refused one is recorded under the routed model.
    expect(rows.map((r) => [r.status, r.modelRequested, r.modelUsed])).toEqual([
      [200, null, 'gpt-4o-mini'],
      [429, 'gpt-4o-mini', null],
    ]);
    expect(breakdownUsage(rows, { groupBy: 'model' }).groups.map((g) => [g.key, g.blocked])).toEqual([['gpt-4o-mini', 1]]);
    await store.close();
  });

  it('is off by default', async () => {
    const saved = process.env.TOKENLAY_DEBUG;
    delete process.env.TOKENLAY_DEBUG;
    try {
      const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, maxRetries: 0 });
      expect(await stderrLines(() => openai.chat.completions.create(chat))).toEqual([]);
    } finally {
      if (saved !== undefined) process.env.TOKENLAY_DEBUG = saved;
    }
  });
});

