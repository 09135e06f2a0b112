import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { VERSION } from 'openai/version';
import { inspect } from 'node:util';
import {
  TokenlayOpenAI,
  TokenlayConfigError,
  TokenlayHeaderError,
  TokenlayLimitError,
  getTokenlayMetadata,
  getTokenlayUsage,
  runWithTokenlay,
} from '../../src/index.js';
import { useProvider, type Provider } from '../support/provider.js';

const PROVIDER_KEY = 'sk-provider-secret-0123456789';
const TOKENLAY_KEY = 'tl-secret-key-abcdef';

let provider: Provider;
useProvider((p) => (provider = p));

function client(extra: Record<string, unknown> = {}) {
  return new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, maxRetries: 0, ...extra });
}
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

describe('construction', () => {
  it('is an OpenAI client of the major under test', () => {
    expect(client()).toBeInstanceOf(OpenAI);
    expect(VERSION.split('.')[0]).toBe(process.env.EXPECT_OPENAI_MAJOR);
  });

  it('names the option and the env var when the tokenlay key is missing', () => {
    const saved = process.env.TOKENLAY_KEY;
    delete process.env.TOKENLAY_KEY;
    try {
      expect(() => new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY })).toThrow(TokenlayConfigError);
      expect(() => new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY })).toThrow(/tokenlayKey.*TOKENLAY_KEY/);
    } finally {
      if (saved !== undefined) process.env.TOKENLAY_KEY = saved;
    }
  });

  it('names the option and the env var when the provider key is missing', () => {
    const saved = process.env.PROVIDER_API_KEY;
    delete process.env.PROVIDER_API_KEY;
    try {
      expect(() => new TokenlayOpenAI({ tokenlayKey: TOKENLAY_KEY })).toThrow(/providerApiKey.*PROVIDER_API_KEY/);
    } finally {
      if (saved !== undefined) process.env.PROVIDER_API_KEY = saved;
    }
  });

  it('rejects a base URL that is not a URL, naming it', () => {
    expect(() => client({ tokenlayBaseUrl: 'not a url' })).toThrow(/tokenlayBaseUrl "not a url" is not a URL/);
  });

  it('takes its keys and URLs from the environment', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      PROVIDER_API_KEY: 'sk-from-env',
      PROVIDER_API_BASE: 'https://provider.example/v1',
      TOKENLAY_KEY: 'tl-from-env',
      TOKENLAY_BASE_URL: provider.url + '/v1',
    });
    try {
      const openai = new TokenlayOpenAI({ maxRetries: 0 });
      await openai.models.list();
      const seen = provider.requests[0];
      expect(seen.path).toBe('/v1/models');
      expect(seen.headers.authorization).toBe('Bearer tl-from-env');
      expect(seen.headers['x-tokenlay-provider-key']).toBe('sk-from-env');
      expect(seen.headers['x-tokenlay-provider-base']).toBe('https://provider.example/v1');
    } finally {
      process.env = saved;
    }
  });

  it('accepts the first SDK spellings', async () => {
    const openai = new TokenlayOpenAI({
      provider_api_key: 'sk-seed',
      provider_api_base: 'https://seed.example/v1',
      tokenlay_key: 'tl-seed',
      tokenlayBaseUrl: provider.url,
      extra_headers: { user: 'seed-user', 'x-custom': '1' },
      maxRetries: 0,
    });
    await openai.chat.completions.create(chat);
    const seen = provider.requests[0].headers;
    expect(seen.authorization).toBe('Bearer tl-seed');
    expect(seen['x-tokenlay-provider-key']).toBe('sk-seed');
    expect(seen['x-tokenlay-provider-base']).toBe('https://seed.example/v1');
    expect(seen['x-tokenlay-user']).toBe('seed-user');
    expect(seen['x-custom']).toBe('1');
  });

  it('refuses client metadata that can never be sent, at construction', () => {
    expect(() => client({ metadata: { user: 'x'.repeat(300) } })).toThrow(TokenlayHeaderError);
    expect(() => client({ metadata: { 'Not A Name': 'x' } as any })).toThrow(/field name "not a name" cannot be sent/);
  });

  it('never shows a key in inspect, toString or JSON', () => {
    const openai = client();
    for (const text of [inspect(openai, { depth: 5 }), String(openai), JSON.stringify(openai), inspect(openai.chat, { depth: 5 })]) {
      expect(text).not.toContain(PROVIDER_KEY);
      expect(text).not.toContain(TOKENLAY_KEY);
    }
  });
});

describe('the wire', () => {
  it('sends to <base>/v1 with the tokenlay key, the provider headers and the default provider base', async () => {
    await client().chat.completions.create(chat);
    const seen = provider.requests[0];
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe(`Bearer ${TOKENLAY_KEY}`);
    expect(seen.headers['x-tokenlay-provider-key']).toBe(PROVIDER_KEY);
    expect(seen.headers['x-tokenlay-provider-base']).toBe('https://api.openai.com/v1');
  });

  it('works for chat, responses, embeddings, completions and models', async () => {
    const openai = client();
    await runWithTokenlay({ user: 'u1' }, async () => {
      const c = await openai.chat.completions.create(chat);
      expect(c.choices[0].message.content).toBe('hello u1');
      const r = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
      expect(r.output_text).toBe('hello u1');
      const e = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
      expect(e.data[0].embedding).toHaveLength(3);
      const l = await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hi' });
      expect(l.choices[0].text).toBe('hello u1');
      const m = await openai.models.list();
      expect(m.data[0].id).toBe('gpt-4o-mini');
    });
    expect(provider.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/models']);
    for (const r of provider.requests) expect(r.headers['x-tokenlay-user']).toBe('u1');
  });

  it('carries the scope into a streamed call and exposes the trailer metadata once it ends', async () => {
    provider.options.proxyAnswers = true;
    const openai = client();
    await runWithTokenlay({ user: 'streamer' }, async () => {
      const stream = await openai.chat.completions.create({ ...chat, stream: true });
      expect(getTokenlayMetadata(stream)).toBeNull();
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text.trim()).toBe('hello streamer');
      const meta = getTokenlayMetadata(stream);
      expect(meta).toMatchObject({ cost: 0.0015, inputTokens: 10, outputTokens: 5, ruleId: 'stand-in-rule', ruleAction: 'allow' });
      expect(getTokenlayUsage()).toEqual({ calls: 1, cost: 0.0015, inputTokens: 10, outputTokens: 5 });
    });
    expect(provider.requests[0].headers['x-tokenlay-user']).toBe('streamer');
  });

  it('reads metadata from a completion, from withResponse() and into the roll-up', async () => {
    provider.options.proxyAnswers = true;
    const openai = client();
    await runWithTokenlay({ user: 'meta' }, async () => {
      const completion = await openai.chat.completions.create(chat);
      expect(getTokenlayMetadata(completion)).toEqual({
        ruleId: 'stand-in-rule',
        ruleAction: 'allow',
        limitExceeded: false,
        cost: 0.0015,
        tokensUsed: 15,
        inputTokens: 10,
        outputTokens: 5,
        duration: 12,
      });
      // The metadata is not part of the completion's own JSON.
      expect(JSON.stringify(completion)).not.toContain('tokenlay');
      const { data, response } = await openai.chat.completions.create(chat).withResponse();
      expect(getTokenlayMetadata(response)?.cost).toBe(0.0015);
      expect(getTokenlayMetadata(data)?.cost).toBe(0.0015);
      expect(getTokenlayUsage()).toEqual({ calls: 2, cost: 0.003, inputTokens: 20, outputTokens: 10 });
    });
  });

  it('rolls up token counts from the body when the answer has no tokenlay headers', async () => {
    await runWithTokenlay({ user: 'plain' }, async () => {
      await client().chat.completions.create(chat);
      expect(getTokenlayUsage()).toEqual({ calls: 1, cost: 0, inputTokens: 10, outputTokens: 5 });
    });
  });

  it('retries a 500 like the OpenAI SDK, with the same fields on every attempt', async () => {
    provider.options.behavior = (r) => (r.attempt === 1 ? { kind: 'status', status: 500 } : undefined);
    const openai = client({ maxRetries: 2 });
    const res = await runWithTokenlay({ user: 'retry' }, () => openai.chat.completions.create(chat));
    expect(res.choices[0].message.content).toBe('hello retry');
    expect(provider.requests).toHaveLength(2);
    expect(provider.requests.map((r) => r.headers['x-tokenlay-user'])).toEqual(['retry', 'retry']);
  });

  it('times out a stalled call like the OpenAI SDK', async () => {
    provider.options.behavior = () => ({ kind: 'stall' });
    const openai = client({ timeout: 200 });
    await expect(openai.chat.completions.create(chat)).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
  });
});

describe('client methods', () => {
  it('checks the proxy with healthCheck() and GET /v1/health', async () => {
    expect(await client().healthCheck()).toEqual({ status: 'ok' });
    expect(provider.requests[0]).toMatchObject({ method: 'GET', path: '/v1/health' });
    expect(provider.requests[0].headers.authorization).toBe(`Bearer ${TOKENLAY_KEY}`);
    const down = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9' });
    const result = await down.healthCheck();
    expect(result.status).toBe('error');
    expect(result.message).not.toContain(TOKENLAY_KEY);
  });

  it('keeps the Tokenlay options through withOptions()', async () => {
    const copy = client({ metadata: { project: 'p1' } }).withOptions({ timeout: 5_000 });
    expect(copy).toBeInstanceOf(TokenlayOpenAI);
    await runWithTokenlay({ user: 'copied' }, () => copy.chat.completions.create(chat));
    const h = provider.requests[0].headers;
    expect([h.authorization, h['x-tokenlay-provider-key'], h['x-tokenlay-user'], h['x-tokenlay-project']]).toEqual([`Bearer ${TOKENLAY_KEY}`, PROVIDER_KEY, 'copied', 'p1']);
  });

  it('adds client-wide fields with updateMetadata()', async () => {
    const openai = client();
    openai.updateMetadata({ feature: 'later' });
    await openai.chat.completions.create(chat);
    expect(provider.requests[0].headers['x-tokenlay-feature']).toBe('later');
  });
});

describe('fields on the wire', () => {
  it('puts explicit per-call headers over the innermost scope, over outer scopes, over client metadata', async () => {
    const openai = client({ metadata: { user: 'client', org: 'client-org', plan: 'client-plan', project: 'client-project' }, extraHeaders: { 'x-tokenlay-project': 'extra-project' } });
    await runWithTokenlay({ user: 'outer', org: 'outer-org' }, () =>
      runWithTokenlay({ user: 'inner' }, () =>
        openai.chat.completions.create(chat, { headers: { 'x-tokenlay-feature': 'explicit-feature', 'x-tokenlay-user': 'explicit' } }),
      ),
    );
    const h = provider.requests[0].headers;
    expect(h['x-tokenlay-user']).toBe('explicit');
    expect(h['x-tokenlay-org']).toBe('outer-org');
    expect(h['x-tokenlay-plan']).toBe('client-plan');
    expect(h['x-tokenlay-project']).toBe('extra-project');
    expect(h['x-tokenlay-feature']).toBe('explicit-feature');
  });

  it('folds aliases into canonical names', async () => {
    await runWithTokenlay({ userId: 'a', tier: 'pro', organization: 'acme' } as any, () => client().chat.completions.create(chat));
    const h = provider.requests[0].headers;
    expect([h['x-tokenlay-user'], h['x-tokenlay-plan'], h['x-tokenlay-org']]).toEqual(['a', 'pro', 'acme']);
    expect(h['x-tokenlay-tier']).toBeUndefined();
  });

  it('percent-encodes non-ASCII, spaces, % and CR/LF/NUL so they never become header syntax', async () => {
    await runWithTokenlay({ user: 'zoë 100%', org: 'evil\r\nx-injected: 1\0' }, () => client().chat.completions.create(chat));
    const h = provider.requests[0].headers;
    expect(h['x-tokenlay-user']).toBe('zo%C3%AB%20100%25');
    expect(h['x-tokenlay-org']).toBe('evil%0D%0Ax-injected:%201%00');
    expect(h['x-injected']).toBeUndefined();
  });

  it('refuses a value over 256 characters before sending, naming the field and the limit', async () => {
    const err = await runWithTokenlay({ user: 'u'.repeat(257) }, () => client({ maxRetries: 2 }).chat.completions.create(chat)).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayHeaderError);
    expect(err.message).toMatch(/field "user" is 257 characters long; the limit is 256/);
    expect(err.message).not.toMatch(/Connection error/);
    expect(provider.requests).toHaveLength(0);
  });

  it('refuses attribution headers over 8 KiB in all before sending', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 40; i++) many[`field${i}`] = 'v'.repeat(250);
    const err = await runWithTokenlay(many, () => client().chat.completions.create(chat)).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayHeaderError);
    expect(err.message).toMatch(/limit is 8192 bytes/);
    expect(provider.requests).toHaveLength(0);
  });

  it('accepts 256 characters exactly', async () => {
    await runWithTokenlay({ user: 'u'.repeat(256) }, () => client().chat.completions.create(chat));
    expect(provider.requests[0].headers['x-tokenlay-user']).toHaveLength(256);
  });
});

describe('enforcement answers', () => {
  const blockBody = {
    error: {
      message: 'Monthly cost limit of $50 reached',
      type: 'tokenlay_limit_exceeded',
      code: 'limit_exceeded',
      param: null,
      tokenlay: { rule_id: 'pro-monthly', limit: { type: 'cost', window: 'month', per: 'user', max: 50, current: 50.02, resets_at: '2026-12-01T00:00:00Z' } },
    },
  };

  it('throws a TokenlayLimitError that is a RateLimitError and is never retried', async () => {
    provider.options.behavior = () => ({
      kind: 'status',
      status: 429,
      headers: { 'retry-after': '345600', 'x-should-retry': 'false', 'x-tokenlay-rule-action': 'block', 'x-tokenlay-limit-exceeded': 'true', 'x-tokenlay-rule-id': 'pro-monthly' },
      body: blockBody,
    });
    const err = await client({ maxRetries: 3 }).chat.completions.create(chat).catch((e) => e);
    expect(provider.requests).toHaveLength(1);
    expect(err).toBeInstanceOf(TokenlayLimitError);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(429);
    expect(err.ruleId).toBe('pro-monthly');
    expect(err.retryAfter).toBe(345600);
    // Public fields are camelCase; the raw body stays on `error.error`.
    expect(err.limit).toEqual({ type: 'cost', window: 'month', per: 'user', max: 50, current: 50.02, resetsAt: '2026-12-01T00:00:00Z' });
    expect(err.error.tokenlay.limit.resets_at).toBe('2026-12-01T00:00:00Z');
    expect(err.code).toBe('limit_exceeded');
    expect(err.message).toContain('Monthly cost limit of $50 reached');
  });

  it('throws a TokenlayLimitError that is not a RateLimitError for a rule status other than 429', async () => {
    provider.options.behavior = () => ({ kind: 'status', status: 402, headers: { 'x-tokenlay-rule-action': 'block', 'x-should-retry': 'false' }, body: blockBody });
    const err = await client().chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayLimitError);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).not.toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(402);
  });

  it('reads a retry-after given as an HTTP date into seconds', async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    provider.options.behavior = () => ({ kind: 'status', status: 429, headers: { 'retry-after': at, 'x-should-retry': 'false', 'x-tokenlay-rule-action': 'block' }, body: blockBody });
    const err = await client().chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayLimitError);
    expect(err.retryAfter).toBeGreaterThanOrEqual(118);
    expect(err.retryAfter).toBeLessThanOrEqual(120);
  });

  it('leaves a provider 429 as the SDK error, not a TokenlayLimitError', async () => {
    provider.options.behavior = () => ({ kind: 'status', status: 429, headers: { 'x-should-retry': 'false' } });
    const err = await client().chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).not.toBeInstanceOf(TokenlayLimitError);
  });

  it('does not count a blocked call in the roll-up', async () => {
    provider.options.behavior = () => ({ kind: 'status', status: 429, headers: { 'x-should-retry': 'false', 'x-tokenlay-rule-action': 'block' }, body: blockBody });
    await runWithTokenlay({ user: 'b' }, async () => {
      await client().chat.completions.create(chat).catch(() => undefined);
      expect(getTokenlayUsage()?.calls).toBe(0);
    });
  });
});

describe('errors keep secrets out', () => {
  it('does not put a key in a connection error', async () => {
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9', maxRetries: 0 });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    const text = `${err.message} ${inspect(err, { depth: 6 })}`;
    expect(text).not.toContain(PROVIDER_KEY);
    expect(text).not.toContain(TOKENLAY_KEY);
  });

  it('does not log a key at debug level', async () => {
    const lines: string[] = [];
    const capture = (...a: unknown[]) => lines.push(inspect(a, { depth: 6 }));
    const logger = { debug: capture, info: capture, warn: capture, error: capture };
    // openai 5+ logs through `logger`; openai 4 prints to console.log when DEBUG=true.
    const savedLog = console.log;
    const savedDebug = process.env.DEBUG;
    console.log = capture;
    process.env.DEBUG = 'true';
    try {
      await client({ logLevel: 'debug', logger }).chat.completions.create(chat);
    } finally {
      console.log = savedLog;
      if (savedDebug === undefined) delete process.env.DEBUG;
      else process.env.DEBUG = savedDebug;
    }
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain(PROVIDER_KEY);
      expect(line).not.toContain(TOKENLAY_KEY);
    }
  });
});
