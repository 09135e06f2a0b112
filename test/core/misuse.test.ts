import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { inspect } from 'node:util';
import {
  TokenlayOpenAI,
  TokenlayConfigError,
  TokenlayError,
  TokenlayLimitError,
  TokenlayRedirectError,
  createTokenlayFetch,
  runWithTokenlay,
  tokenlayFetch,
  VERSION,
} from '../../src/index.js';
import { startProvider, useProvider, type Provider } from '../support/provider.js';

const PROVIDER_KEY = 'sk-provider-secret-0123456789';
const TOKENLAY_KEY = 'tl-secret-key-abcdef';

let provider: Provider;
useProvider((p) => (provider = p));

function client(extra: Record<string, unknown> = {}) {
  return new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, maxRetries: 0, ...extra });
}
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    process.env = saved;
  }
}

describe('limits that copies cannot bypass', () => {
  const twoADay = { rules: [{ id: 'two-a-day', if: {}, then: { limits: [{ type: 'requests', max: 2, window: 'day', per: 'user' }] } }] };

  it('shares the engine with withOptions() copies: a 2-a-day rule admits 2 of 5 calls made through copies', async () => {
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy: twoADay, store: 'memory', maxRetries: 0 });
    const outcomes: string[] = [];
    await runWithTokenlay({ user: 'copier' }, async () => {
      for (let i = 0; i < 5; i++) {
        const copy = openai.withOptions({ timeout: 5_000 + i });
        outcomes.push(await copy.chat.completions.create(chat).then(() => 'ok', (e) => (e instanceof TokenlayLimitError ? 'blocked' : String(e))));
      }
    });
    expect(outcomes).toEqual(['ok', 'ok', 'blocked', 'blocked', 'blocked']);
    expect(provider.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(2);
    await openai.close();
  });
});

describe('a hard block is never retried', () => {
  const blockBody = { error: { message: 'limit', type: 'tokenlay_limit_exceeded', code: 'limit_exceeded', param: null } };

  it('does not retry a 429 with x-tokenlay-rule-action: block and retry-after 3600 but no x-should-retry', async () => {
    provider.options.behavior = () => ({ kind: 'status', status: 429, headers: { 'x-tokenlay-rule-action': 'block', 'retry-after': '3600' }, body: blockBody });
    const started = Date.now();
    const err = await client({ maxRetries: 2 }).chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayLimitError);
    expect(err.retryAfter).toBe(3600);
    expect(provider.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('does not retry an error of type tokenlay_limit_exceeded without any rule header', async () => {
    provider.options.behavior = () => ({ kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: blockBody });
    const err = await client({ maxRetries: 2 }).chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayLimitError);
    expect(provider.requests).toHaveLength(1);
  });

  it('still retries a provider 429 that is not a block', async () => {
    provider.options.behavior = (r) => (r.attempt === 1 ? { kind: 'status', status: 429, headers: { 'retry-after-ms': '10' } } : undefined);
    await client({ maxRetries: 2 }).chat.completions.create(chat);
    expect(provider.requests).toHaveLength(2);
  });
});

describe('keys stay where they belong', () => {
  it('refuses a redirect to another origin without sending the keys there, naming both origins', async () => {
    const elsewhere = await startProvider();
    try {
      provider.options.behavior = () => ({ kind: 'status', status: 307, headers: { location: `${elsewhere.base}/chat/completions` } });
      const err = await client().chat.completions.create(chat).catch((e) => e);
      expect(elsewhere.requests).toHaveLength(0);
      expect(err).toBeInstanceOf(TokenlayError);
      expect(err.message).toContain(provider.url);
      expect(err.message).toContain(elsewhere.url);
      expect(err.message).not.toContain(PROVIDER_KEY);
    } finally {
      await elsewhere.close();
    }
  });

  it('retries a refused redirect as a connection failure, then throws the TokenlayRedirectError itself', async () => {
    const elsewhere = await startProvider();
    try {
      provider.options.behavior = () => ({ kind: 'status', status: 307, headers: { location: `${elsewhere.base}/chat/completions` } });
      const err = await client({ maxRetries: 1 }).chat.completions.create(chat).catch((e) => e);
      expect(provider.requests).toHaveLength(2);
      expect(err).toBeInstanceOf(TokenlayRedirectError);
      expect(err).toMatchObject({ from: provider.url, to: elsewhere.url });
      expect(err.message).toBe(new TokenlayRedirectError(provider.url, elsewhere.url).message);
    } finally {
      await elsewhere.close();
    }
  });

  it('throws a TokenlayError naming the proxy when it redirects more than 5 times, as the README says', async () => {
    provider.options.behavior = () => ({ kind: 'status', status: 307, headers: { location: `${provider.base}/chat/completions` } });
    const err = await client().chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(TokenlayError);
    expect(err.message).toBe(`tokenlay: more than 5 redirects from ${provider.url}; the call was not completed.`);
    expect(provider.requests).toHaveLength(6);
  });

  it('refuses a cross-origin redirect in createTokenlayFetch as well', async () => {
    const elsewhere = await startProvider();
    try {
      provider.options.behavior = () => ({ kind: 'status', status: 308, headers: { location: `${elsewhere.base}/chat/completions` } });
      const f = createTokenlayFetch({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url });
      const err = await f('https://api.openai.com/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat) }).catch((e) => e);
      expect(err).toBeInstanceOf(TokenlayError);
      expect(err.message).toContain(elsewhere.url);
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      await elsewhere.close();
    }
  });

  it('follows a same-origin redirect with the keys', async () => {
    provider.options.behavior = (r) => (r.path === '/v1/chat/completions' ? { kind: 'status', status: 307, headers: { location: '/v1/chat/completions?moved=1' } } : undefined);
    const res = await client().chat.completions.create(chat);
    expect(res.choices[0].message.content).toBe('hello anonymous');
    expect(provider.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions?moved=1']);
    expect(provider.requests[1].headers['x-tokenlay-provider-key']).toBe(PROVIDER_KEY);
    expect(provider.requests[1].body).toEqual(chat);
  });

  it('holds no key where Object.entries, JSON or inspect without customInspect can read it', () => {
    const openai = client();
    const texts = [
      inspect(openai, { customInspect: false, depth: 8, showHidden: true }),
      inspect(Object.entries(openai), { depth: 8 }),
      inspect((openai as any)._options, { depth: 8 }),
      inspect(openai.withOptions({ timeout: 1000 }), { customInspect: false, depth: 8, showHidden: true }),
    ];
    for (const text of texts) {
      expect(text).not.toContain(PROVIDER_KEY);
      expect(text).not.toContain(TOKENLAY_KEY);
    }
  });

  it('does not echo a key passed by mistake as tokenlayBaseUrl', () => {
    const err = (() => {
      try {
        client({ tokenlayBaseUrl: TOKENLAY_KEY });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(TokenlayConfigError);
    expect(err!.message).toMatch(/tokenlayBaseUrl/);
    expect(err!.message).not.toContain(TOKENLAY_KEY);
  });
});

describe('options every OpenAI user types', () => {
  it('reads apiKey as the provider key when providerApiKey is absent', async () => {
    await new TokenlayOpenAI({ apiKey: 'sk-from-apikey', tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, maxRetries: 0 } as any).chat.completions.create(chat);
    expect(provider.requests[0].headers['x-tokenlay-provider-key']).toBe('sk-from-apikey');
  });

  it('falls back to OPENAI_API_KEY when the provider base is OpenAI', async () => {
    await withEnv({ PROVIDER_API_KEY: undefined, OPENAI_API_KEY: 'sk-openai-env' }, () =>
      new TokenlayOpenAI({ tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, maxRetries: 0 }).chat.completions.create(chat),
    );
    expect(provider.requests[0].headers['x-tokenlay-provider-key']).toBe('sk-openai-env');
  });

  it('does not send OPENAI_API_KEY to another provider', () => {
    withEnv({ PROVIDER_API_KEY: undefined, OPENAI_API_KEY: 'sk-openai-env' }, () => {
      expect(() => new TokenlayOpenAI({ tokenlayKey: TOKENLAY_KEY, providerApiBase: 'https://api.anthropic.com/v1' })).toThrow(/providerApiKey/);
    });
  });

  it('names apiKey too when no provider key is found', () => {
    withEnv({ PROVIDER_API_KEY: undefined, OPENAI_API_KEY: undefined }, () => {
      expect(() => new TokenlayOpenAI({ tokenlayKey: TOKENLAY_KEY })).toThrow(/providerApiKey.*apiKey.*PROVIDER_API_KEY.*OPENAI_API_KEY/);
    });
  });

  it('refuses baseURL, naming providerApiBase and tokenlayBaseUrl', () => {
    expect(() => client({ baseURL: 'https://example.test/v1' })).toThrow(TokenlayConfigError);
    expect(() => client({ baseURL: 'https://example.test/v1' })).toThrow(/baseURL.*providerApiBase.*tokenlayBaseUrl/s);
  });

  it('accepts provider_base_url as providerApiBase', async () => {
    await client({ provider_base_url: 'https://provider.example/v1' }).chat.completions.create(chat);
    expect(provider.requests[0].headers['x-tokenlay-provider-base']).toBe('https://provider.example/v1');
  });

  it('refuses an unknown Tokenlay-looking option with "did you mean"', () => {
    expect(() => client({ providerKey: 'x' })).toThrow(/providerKey.*did you mean `providerApiKey`/);
    expect(() => client({ tokenlay_url: 'x' })).toThrow(/tokenlay_url.*did you mean `tokenlayBaseUrl`/);
    expect(() => client({ providerApiKey: PROVIDER_KEY, ProviderAPIBase: 'x' })).toThrow(/did you mean `providerApiBase`/);
  });
});

describe('an unreachable proxy', () => {
  it('says which URL could not be reached', async () => {
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9', maxRetries: 0 });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(err.message).toContain('http://127.0.0.1:9/v1/chat/completions');
    expect(err.message).not.toContain(TOKENLAY_KEY);
  });

  it('says why fetch refused the URL, not only that fetch failed', async () => {
    // Port 9 is one fetch never connects to: undici's "fetch failed" has "bad port" as its cause, without a code.
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9', maxRetries: 0 });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    expect(err.message).toContain('could not reach http://127.0.0.1:9/v1/chat/completions (bad port)');
  });

  it('is retried as any connection failure is, then says which URL could not be reached', async () => {
    let attempts = 0;
    // The app's own fetch under the client, failing as undici does when nothing listens.
    const refusing = async () => {
      attempts++;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    };
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9', maxRetries: 1, fetch: refusing });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    expect(attempts).toBe(2);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(err.message).toBe(
      'Connection error: tokenlay: could not reach http://127.0.0.1:9/v1/chat/completions (ECONNREFUSED). Check that the Tokenlay proxy runs there, or set tokenlayBaseUrl (env TOKENLAY_BASE_URL).',
    );
    // The explanation is the cause. openai 5 to 7 keep the fetch failure under it; openai 4 hands
    // the client a copy of the answer, from which the explanation is rebuilt, without it.
    expect(err.cause.message).toBe(err.message.replace('Connection error: ', ''));
    if (process.env.EXPECT_OPENAI_MAJOR !== '4') expect(err.cause.cause.cause.code).toBe('ECONNREFUSED');
  });

  it('says which URL could not be reached when connecting timed out, as the SDK\'s timeout error', async () => {
    const timingOut = async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }) });
    };
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9', maxRetries: 0, fetch: timingOut });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(err.message).toContain('could not reach http://127.0.0.1:9/v1/chat/completions (UND_ERR_CONNECT_TIMEOUT)');
  });

  it('is a refused connection, not a timeout, when the proxy URL merely contains "timeout"', async () => {
    const refusing = async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    };
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://timeout-proxy.internal:8080', maxRetries: 0, fetch: refusing });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(err).not.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(err.message).toContain('could not reach http://timeout-proxy.internal:8080/v1/chat/completions (ECONNREFUSED)');
  });

  it('refuses a tokenlayBaseUrl with a password at construction, never showing it (fetch cannot send one, and its own error would print it)', () => {
    let err: unknown;
    try {
      new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://bob:hunter2-secret@127.0.0.1:9', maxRetries: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TokenlayConfigError);
    const message = (err as Error).message;
    expect(message).toContain('tokenlayBaseUrl "http://***@127.0.0.1:9/" carries a user name or password');
    expect(message).toContain('tokenlayKey');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('bob');
  });

  it('is not mistaken for an answer that looks like one of its explanations', async () => {
    provider.options.behavior = () => ({
      kind: 'status',
      status: 502,
      headers: { 'x-tokenlay-client-failure': 'tokenlay-guess', 'x-should-retry': 'false' },
      body: { error: { message: 'proxy down', type: 'tokenlay_client_failure', from: 'http://a', to: 'http://b' } },
    });
    const err = await client().chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err).not.toBeInstanceOf(TokenlayRedirectError);
    expect(err.status).toBe(502);
  });

  it('cannot be imitated by a proxy that copies what the SDK logged of one at logLevel debug', async () => {
    const logged: string[] = [];
    const record = (...args: unknown[]) => void logged.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    const logger = { debug: record, info: record, warn: record, error: record };
    const unreachable = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9', maxRetries: 0, logLevel: 'debug', logger } as never);
    expect(await unreachable.chat.completions.create(chat).catch((e) => e)).toBeInstanceOf(OpenAI.APIConnectionError);
    // openai 4 has no logger option (it prints with DEBUG=true); openai 5 to 7 log the answer's headers.
    if (process.env.EXPECT_OPENAI_MAJOR !== '4') expect(logged.join('\n')).toContain('x-tokenlay-client-failure');
    const seen = [...new Set(logged.join('\n').match(/"x-tokenlay-client-failure":"[^"]*"/g) ?? [])].map((h) => JSON.parse(`{${h}}`)['x-tokenlay-client-failure'] as string);
    for (const value of [...seen, ...logged.join('\n').match(/tokenlay-[0-9a-f-]{36}/g) ?? []]) {
      provider.options.behavior = () => ({
        kind: 'status',
        status: 502,
        headers: { 'x-tokenlay-client-failure': value },
        body: { error: { message: 'copied', type: 'tokenlay_client_failure', mark: value, from: 'http://a', to: 'http://b' } },
      });
      const err = await client().chat.completions.create(chat).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err.status).toBe(502);
    }
  });

  it('is not retried once the caller aborts, and says so as the SDK does', async () => {
    const controller = new AbortController();
    const refusing = async () => {
      controller.abort();
      throw new TypeError('fetch failed');
    };
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9', maxRetries: 2, fetch: refusing });
    const err = await openai.chat.completions.create(chat, { signal: controller.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIUserAbortError);
  });

  it('says so from createTokenlayFetch too', async () => {
    const f = createTokenlayFetch({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: 'http://127.0.0.1:9' });
    const err = await f('https://api.openai.com/v1/models').catch((e) => e);
    expect(err.message).toContain('http://127.0.0.1:9/v1/models');
  });
});

describe('createTokenlayFetch', () => {
  it('honours the providerApiBase it was given in embedded mode', async () => {
    const f = createTokenlayFetch({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy: { rules: [] } });
    const res = await f('https://api.openai.com/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) });
    expect(res.status).toBe(200);
    expect(provider.requests[0].path).toBe('/v1/chat/completions');
    expect(provider.requests[0].headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });

  it('honours the providerApiBase it was given', async () => {
    const f = createTokenlayFetch({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url, providerApiBase: 'https://groq.example/openai/v1' });
    await f('https://groq.example/openai/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat) });
    expect(provider.requests[0].path).toBe('/v1/chat/completions');
    expect(provider.requests[0].headers['x-tokenlay-provider-base']).toBe('https://groq.example/openai/v1');
  });
});

describe('code written for @tokenlay/sdk', () => {
  it('reads per-call metadata as fields over scope and client fields, and keeps it out of the body', async () => {
    const openai = client({ metadata: { feature: 'client-feature', project: 'client-project' } });
    await runWithTokenlay({ user: 'scope-user', plan: 'free' }, () =>
      openai.chat.completions.create({ ...chat, metadata: { userId: 'call-user', tier: 'pro', feature: 'call-feature' } }),
    );
    const seen = provider.requests[0];
    expect(seen.headers['x-tokenlay-user']).toBe('call-user');
    expect(seen.headers['x-tokenlay-plan']).toBe('pro');
    expect(seen.headers['x-tokenlay-feature']).toBe('call-feature');
    expect(seen.headers['x-tokenlay-project']).toBe('client-project');
    expect(seen.body.metadata).toBeUndefined();
  });

  it('keeps metadata in the body when store: true, where OpenAI uses it', async () => {
    await client().chat.completions.create({ ...chat, store: true, metadata: { userId: 'stored' } });
    expect(provider.requests[0].headers['x-tokenlay-user']).toBe('stored');
    expect(provider.requests[0].body.metadata).toEqual({ userId: 'stored' });
  });

  it('rotates the provider key with updateProviderKey(), for copies too', async () => {
    const openai = client();
    const copy = openai.withOptions({ timeout: 9_000 });
    openai.updateProviderKey('sk-rotated');
    await openai.chat.completions.create(chat);
    await copy.chat.completions.create(chat);
    expect(provider.requests.map((r) => r.headers['x-tokenlay-provider-key'])).toEqual(['sk-rotated', 'sk-rotated']);
    expect(() => openai.updateProviderKey('')).toThrow(TokenlayConfigError);
  });

  it('exports VERSION', () => {
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('one merge of call headers for the client and both fetches', () => {
  it('gives the same x-tokenlay-* headers from TokenlayOpenAI, tokenlayFetch and createTokenlayFetch', async () => {
    const callHeaders = { user: 'bare-user', 'x-tokenlay-feature': 'explicit-feature', 'X-Tokenlay-Tier': 'pro', 'x-custom': 'kept' };
    await runWithTokenlay({ user: 'scope-user', org: 'scope-org' }, async () => {
      await client().chat.completions.create(chat, { headers: callHeaders });
      await tokenlayFetch(`${provider.base}/chat/completions`, { method: 'POST', headers: { ...callHeaders, 'content-type': 'application/json' }, body: JSON.stringify(chat) });
      const routed = createTokenlayFetch({ providerApiKey: PROVIDER_KEY, tokenlayKey: TOKENLAY_KEY, tokenlayBaseUrl: provider.url });
      await routed('https://api.openai.com/v1/chat/completions', { method: 'POST', headers: { ...callHeaders, 'content-type': 'application/json' }, body: JSON.stringify(chat) });
    });
    const fieldsOf = (h: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(h).filter(([name]) => name.startsWith('x-tokenlay-') && !name.startsWith('x-tokenlay-provider-')).sort());
    const [viaClient, viaFetch, viaRouted] = provider.requests.map((r) => fieldsOf(r.headers));
    expect(viaClient).toEqual({ 'x-tokenlay-feature': 'explicit-feature', 'x-tokenlay-org': 'scope-org', 'x-tokenlay-plan': 'pro', 'x-tokenlay-user': 'bare-user' });
    expect(viaFetch).toEqual(viaClient);
    expect(viaRouted).toEqual(viaClient);
    for (const r of provider.requests) {
      expect(r.headers.user).toBeUndefined();
      expect(r.headers['x-custom']).toBe('kept');
    }
  });

  it('removes a field with a null header on the client', async () => {
    await runWithTokenlay({ user: 'scope-user', org: 'scope-org' }, () => client().chat.completions.create(chat, { headers: { 'x-tokenlay-org': null } }));
    expect(provider.requests[0].headers['x-tokenlay-org']).toBeUndefined();
    expect(provider.requests[0].headers['x-tokenlay-user']).toBe('scope-user');
  });
});
