/**
 * Code written for the official `@tokenlay/sdk` (the usage patterns of its examples/README.md and
 * examples/*.js) runs against `TokenlayOpenAI` with only the import changed, here against a local
 * proxy stand-in reached through the env the official examples use for local development.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenlayOpenAI, getTokenlayMetadata, VERSION, type RequestMetadata, type TokenlayResponseMetadata } from '../../src/index.js';
import { useProvider, type Provider } from '../support/provider.js';
import pkg from '../../package.json' with { type: 'json' };

let provider: Provider;
useProvider((p) => (provider = p), { proxyAnswers: true });

let savedEnv: NodeJS.ProcessEnv;
beforeEach(() => {
  savedEnv = { ...process.env };
  Object.assign(process.env, { TOKENLAY_KEY: 'tl-compat-key', OPENAI_API_KEY: 'sk-compat-openai', TOKENLAY_BASE_URL: provider.url });
  delete process.env.PROVIDER_API_KEY;
  delete process.env.PROVIDER_API_BASE;
});
afterEach(() => {
  process.env = savedEnv;
});

const seen = (i = 0) => provider.requests[i].headers;

describe('the official @tokenlay/sdk usage patterns, unchanged but for the import', () => {
  it('user-based routing: per-call metadata { userId, tier, feature }', async () => {
    const client = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY });
    const response = await client.chat.completions.create({
      model: 'gpt-3.5-turbo',
      messages: [{ role: 'user', content: 'Hello!' }],
      metadata: { userId: 'user_123', tier: 'pro', feature: 'chat' },
    });
    expect(response.choices[0].message.content).toBe('hello user_123');
    expect([seen()['x-tokenlay-user'], seen()['x-tokenlay-plan'], seen()['x-tokenlay-feature']]).toEqual(['user_123', 'pro', 'chat']);
    expect(seen().authorization).toBe('Bearer tl-compat-key');
    expect(seen()['x-tokenlay-provider-key']).toBe('sk-compat-openai');
    expect(provider.requests[0].body.metadata).toBeUndefined();
  });

  it('cost monitoring: getTokenlayMetadata(response) with cost, tokensUsed and ruleId', async () => {
    const client = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY });
    const response = await client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'Hello!' }] });
    const metadata: TokenlayResponseMetadata | null = getTokenlayMetadata(response);
    expect(metadata).not.toBeNull();
    expect(`Cost: $${metadata!.cost}`).toBe('Cost: $0.0015');
    expect(metadata!.tokensUsed).toBe(15);
    expect(metadata!.ruleId).toBe('stand-in-rule');
    expect(metadata!.ruleAction).toBe('allow');
  });

  it('error handling: a failed call rejects with an error that has a message', async () => {
    provider.options.behavior = () => ({ kind: 'status', status: 400, body: { error: { message: 'Invalid model', type: 'invalid_request_error', code: null, param: 'model' } } });
    const client = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY });
    let caught: any;
    try {
      await client.chat.completions.create({ model: 'invalid-model-name', messages: [{ role: 'user', content: 'x' }], metadata: { testCase: 'invalid_model' } });
    } catch (error) {
      caught = error;
    }
    expect(caught.message).toContain('Invalid model');
    expect(seen()['x-tokenlay-testcase']).toBe('invalid_model');
  });

  it('streaming with per-call metadata', async () => {
    const client = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY });
    const stream = await client.chat.completions.create({
      model: 'gpt-3.5-turbo',
      messages: [{ role: 'user', content: 'Hello!' }],
      stream: true,
      metadata: { userId: 'user_123' },
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content || '';
    expect(text.trim()).toBe('hello user_123');
    expect(provider.requests[0].body.metadata).toBeUndefined();
  });

  it('multi-provider setup: a second client with providerApiBase, and client metadata', async () => {
    const openaiClient = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY, metadata: { provider: 'openai', environment: 'demo' } });
    const anthropicClient = new TokenlayOpenAI({
      tokenlayKey: process.env.TOKENLAY_KEY,
      providerApiKey: 'sk-ant-compat',
      providerApiBase: 'https://api.anthropic.com/v1',
      timeout: 30000,
      maxRetries: 3,
    });
    await openaiClient.chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'q' }] });
    await anthropicClient.chat.completions.create({ model: 'claude-3-haiku-20240307', messages: [{ role: 'user', content: 'q' }], max_tokens: 50 });
    expect([seen(0)['x-tokenlay-provider-base'], seen(0)['x-tokenlay-provider'], seen(0)['x-tokenlay-environment']]).toEqual(['https://api.openai.com/v1', 'openai', 'demo']);
    expect([seen(1)['x-tokenlay-provider-base'], seen(1)['x-tokenlay-provider-key']]).toEqual(['https://api.anthropic.com/v1', 'sk-ant-compat']);
  });

  it('dynamic metadata: updateMetadata(), then per-call metadata merged over it', async () => {
    const client = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY, metadata: { feature: 'chat_assistant', version: '1.0.0' } });
    client.updateMetadata({ userId: 'admin_user', tier: 'admin', feature: 'content_moderation', department: 'safety' });
    const perCall: RequestMetadata = { contentId: 'content_123', priority: 'high' };
    await client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'x' }], metadata: perCall });
    const h = seen();
    expect([h['x-tokenlay-user'], h['x-tokenlay-plan'], h['x-tokenlay-feature'], h['x-tokenlay-department'], h['x-tokenlay-version']]).toEqual(['admin_user', 'admin', 'content_moderation', 'safety', '1.0.0']);
    expect([h['x-tokenlay-contentid'], h['x-tokenlay-priority']]).toEqual(['content_123', 'high']);
  });

  it('health check and key rotation', async () => {
    const client = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY, timeout: 60000, maxRetries: 2 });
    expect(await client.healthCheck()).toEqual({ status: 'ok' });
    expect(typeof client.updateProviderKey).toBe('function');
    client.updateProviderKey('sk-compat-backup');
    await client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'x' }], max_tokens: 20, metadata: { keyRotation: 'true' } });
    expect(seen(1)['x-tokenlay-provider-key']).toBe('sk-compat-backup');
  });

  it('the underlying OpenAI client and VERSION', () => {
    const client = new TokenlayOpenAI({ tokenlayKey: process.env.TOKENLAY_KEY, providerApiKey: process.env.OPENAI_API_KEY });
    expect(client.openai.chat.completions).toBe(client.chat.completions);
    expect(VERSION).toBe(pkg.version);
  });
});
