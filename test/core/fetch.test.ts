import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { createTokenlayFetch, getTokenlayMetadata, getTokenlayUsage, runWithTokenlay, tokenlayFetch, TokenlayHeaderError } from '../../src/index.js';
import { useProvider, type Provider } from '../support/provider.js';

let provider: Provider;
useProvider((p) => (provider = p));

const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

describe('tokenlayFetch', () => {
  it('adds the scope fields to a plain fetch and rolls up the answer', async () => {
    provider.options.proxyAnswers = true;
    await runWithTokenlay({ user: 'fetch-user', plan: 'pro' }, async () => {
      const res = await tokenlayFetch(`${provider.base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(200);
      expect(getTokenlayMetadata(res)?.cost).toBe(0.0015);
      await res.json();
      expect(getTokenlayUsage()).toEqual({ calls: 1, cost: 0.0015, inputTokens: 10, outputTokens: 5 });
    });
    const h = provider.requests[0].headers;
    expect([h['x-tokenlay-user'], h['x-tokenlay-plan']]).toEqual(['fetch-user', 'pro']);
  });

  it('lets headers the caller set win, and sends nothing outside a scope', async () => {
    await runWithTokenlay({ user: 'scope' }, () =>
      tokenlayFetch(`${provider.base}/models`, { headers: { 'x-tokenlay-user': 'explicit' } }),
    );
    await tokenlayFetch(`${provider.base}/models`);
    expect(provider.requests[0].headers['x-tokenlay-user']).toBe('explicit');
    expect(Object.keys(provider.requests[1].headers).filter((h) => h.startsWith('x-tokenlay-'))).toEqual([]);
  });

  it('refuses an oversized field before sending', async () => {
    const err = await runWithTokenlay({ org: 'o'.repeat(300) }, () => tokenlayFetch(`${provider.base}/models`)).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayHeaderError);
    expect(err.field).toBe('org');
    expect(provider.requests).toHaveLength(0);
  });
});

describe('createTokenlayFetch', () => {
  it("routes a fetch-based SDK's calls through the proxy with the tokenlay key and the SDK's provider key", async () => {
    const fetch = createTokenlayFetch({ tokenlayKey: 'tl-key', tokenlayBaseUrl: provider.url, metadata: { project: 'docs-bot' } });
    // Any SDK that takes a `fetch`: here the OpenAI SDK itself, pointed at the provider as usual.
    const sdk = new OpenAI({ apiKey: 'sk-sdk-key', baseURL: 'https://api.openai.com/v1', fetch, maxRetries: 0 });
    const r = await runWithTokenlay({ user: 'vercel-user' }, () => sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    expect(r.choices[0].message.content).toBe('hello vercel-user');
    const seen = provider.requests[0];
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe('Bearer tl-key');
    expect(seen.headers['x-tokenlay-provider-key']).toBe('sk-sdk-key');
    expect(seen.headers['x-tokenlay-provider-base']).toBe('https://api.openai.com/v1');
    expect(seen.headers['x-tokenlay-project']).toBe('docs-bot');
  });

  it('routes a URL under a custom providerApiBase and prefers the configured provider key', async () => {
    const fetch = createTokenlayFetch({ tokenlayKey: 'tl-key', tokenlayBaseUrl: provider.url + '/v1', providerApiKey: 'sk-configured', providerApiBase: 'https://llm.internal/openai' });
    await fetch('https://llm.internal/openai/embeddings', { method: 'POST', headers: { authorization: 'Bearer sk-ignored', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'x' }) });
    const seen = provider.requests[0];
    expect(seen.path).toBe('/v1/embeddings');
    expect(seen.headers['x-tokenlay-provider-key']).toBe('sk-configured');
    expect(seen.headers['x-tokenlay-provider-base']).toBe('https://llm.internal/openai');
  });

  it('takes a Request object, keeping its method and body', async () => {
    const fetch = createTokenlayFetch({ tokenlayKey: 'tl-key', tokenlayBaseUrl: provider.url, providerApiKey: 'sk-x' });
    const request = new Request('https://api.openai.com/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const res = await runWithTokenlay({ user: 'req-object' }, () => fetch(request));
    expect((await res.json()).choices[0].message.content).toBe('hello req-object');
    expect(provider.requests[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: JSON.parse(body) });
  });

  it('runs the embedded engine when given a policy: the SDK talks to its provider, limits apply', async () => {
    const fetch = createTokenlayFetch({ policy: { rules: [{ id: 'one-a-day', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] } }] }, store: 'memory' });
    const sdk = new OpenAI({ apiKey: 'sk-sdk', baseURL: provider.base, fetch, maxRetries: 0 });
    await runWithTokenlay({ user: 'embedded-fetch' }, async () => {
      // Another SDK's parsed body is not linked (TokenlayOpenAI's are): its answer is.
      const first = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      expect(getTokenlayMetadata(first)).toMatchObject({ ruleId: 'one-a-day', inputTokens: 10 });
      const second = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
      expect(second).toBeInstanceOf(OpenAI.RateLimitError);
    });
    expect(provider.requests).toHaveLength(1);
    expect(provider.requests[0].headers.authorization).toBe('Bearer sk-sdk');
  });

  it('needs a tokenlay key to route through a proxy', () => {
    const saved = process.env.TOKENLAY_KEY;
    delete process.env.TOKENLAY_KEY;
    try {
      expect(() => createTokenlayFetch({})).toThrow(/tokenlayKey is missing.*TOKENLAY_KEY/);
    } finally {
      if (saved !== undefined) process.env.TOKENLAY_KEY = saved;
    }
  });
});

describe('the Vercel AI SDK', () => {
  it('carries the scope with tokenlayFetch through generateText and streamText', async () => {
    const provider2 = createOpenAI({ apiKey: 'tl-key', baseURL: provider.base, fetch: tokenlayFetch });
    await runWithTokenlay({ user: 'ai-sdk-user', feature: 'summarize' }, async () => {
      const { text } = await generateText({ model: provider2.chat('gpt-4o-mini'), prompt: 'hi' });
      expect(text).toBe('hello ai-sdk-user');
      const stream = streamText({ model: provider2.chat('gpt-4o-mini'), prompt: 'hi' });
      let streamed = '';
      for await (const part of stream.textStream) streamed += part;
      expect(streamed.trim()).toBe('hello ai-sdk-user');
      expect(getTokenlayUsage()?.calls).toBe(2);
    });
    expect(provider.requests).toHaveLength(2);
    for (const r of provider.requests) {
      expect(r.headers['x-tokenlay-user']).toBe('ai-sdk-user');
      expect(r.headers['x-tokenlay-feature']).toBe('summarize');
    }
  });

  it('routes through the proxy with createTokenlayFetch', async () => {
    const sdk = createOpenAI({ apiKey: 'sk-provider-for-ai-sdk', fetch: createTokenlayFetch({ tokenlayKey: 'tl-key', tokenlayBaseUrl: provider.url }) });
    const { text } = await runWithTokenlay({ user: 'routed' }, () => generateText({ model: sdk.chat('gpt-4o-mini'), prompt: 'hi' }));
    expect(text).toBe('hello routed');
    const seen = provider.requests[0].headers;
    expect(seen.authorization).toBe('Bearer tl-key');
    expect(seen['x-tokenlay-provider-key']).toBe('sk-provider-for-ai-sdk');
  });
});
