import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenlayOpenAI } from '../../src/index.js';
import { parseRetryAfter, readBlock } from '../../src/protocol/block.js';
import { limitAnswer } from '../../src/protocol/limit-answer.js';
import { startProvider, type Provider } from '../support/provider.js';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const blockBody = {
  error: { message: 'Monthly cost limit of $50 reached', type: 'tokenlay_limit_exceeded', code: 'limit_exceeded', param: null, tokenlay: { rule_id: 'pro-monthly', limit: { type: 'cost', window: 'month', per: 'user', max: 50, current: 50.02, resets_at: '2026-12-01T00:00:00Z' } } },
};

describe('the one retry-after parser', () => {
  it('reads delta-seconds as they are', () => {
    expect(parseRetryAfter('3600', NOW)).toBe(3600);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter('1.5', NOW)).toBe(1.5);
  });

  it('reads an HTTP date as whole seconds from now, 0 once it is past', () => {
    expect(parseRetryAfter('Tue, 01 Dec 2026 01:00:00 GMT', NOW)).toBe(3600);
    expect(parseRetryAfter('Tue, 01 Dec 2026 00:00:00 GMT', NOW + 500)).toBe(0);
    expect(parseRetryAfter('Mon, 30 Nov 2026 00:00:00 GMT', NOW)).toBe(0);
  });

  it('gives undefined for an absent, empty, negative or malformed value', () => {
    for (const value of [undefined, null, '', '  ', '-5', 'soon', '0x10', '1e3']) expect(parseRetryAfter(value as string, NOW), String(value)).toBeUndefined();
  });
});

describe('the one block reader', () => {
  it('reads a block from its headers alone, the body unread', () => {
    const headers = new Headers({ 'x-tokenlay-rule-action': 'block', 'x-tokenlay-rule-id': 'caf%C3%A9', 'retry-after': '30' });
    expect(readBlock(429, headers, undefined, NOW)).toEqual({ status: 429, ruleId: 'café', ruleAction: 'block', retryAfter: 30, limit: undefined, error: undefined });
  });

  it('reads a block named only in its body, as text or parsed, with the limit in camelCase', () => {
    for (const body of [JSON.stringify(blockBody), blockBody]) {
      const block = readBlock(403, { 'retry-after': 'Tue, 01 Dec 2026 00:00:10 GMT' }, body, NOW);
      expect(block).toMatchObject({ status: 403, ruleId: 'pro-monthly', ruleAction: 'block', retryAfter: 10, limit: { type: 'cost', max: 50, resetsAt: '2026-12-01T00:00:00Z' } });
    }
  });

  it("is undefined for a provider's own 429, a queue header on a 2xx, and a body that is not JSON", () => {
    expect(readBlock(429, new Headers({ 'retry-after': '1' }), { error: { type: 'rate_limit_exceeded' } })).toBeUndefined();
    expect(readBlock(200, new Headers({ 'x-tokenlay-rule-action': 'queue' }), undefined)).toBeUndefined();
    expect(readBlock(429, new Headers(), 'Too Many Requests')).toBeUndefined();
  });
});

describe('blocks whose retry-after is an HTTP date', () => {
  let provider: Provider;
  const inAnHour = () => new Date(Date.now() + 3600_000).toUTCString();
  beforeAll(async () => {
    provider = await startProvider({
      behavior: () => ({ kind: 'status', status: 429, headers: { 'retry-after': inAnHour(), 'x-tokenlay-rule-action': 'block', 'x-tokenlay-limit-exceeded': 'true' }, body: blockBody }),
    });
  });
  afterAll(() => provider.close());
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

  it('gives TokenlayLimitError.retryAfter in seconds', async () => {
    const openai = new TokenlayOpenAI({ providerApiKey: 'sk-test', tokenlayKey: 'tl-test', tokenlayBaseUrl: provider.url, maxRetries: 0 });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    expect(err.ruleId).toBe('pro-monthly');
    expect(err.retryAfter).toBeGreaterThan(3590);
    expect(err.retryAfter).toBeLessThanOrEqual(3600);
  });

  it("answers another SDK's block with retry-after in seconds", async () => {
    const sdk = new OpenAI({ apiKey: 'sk-test', baseURL: provider.base, maxRetries: 0 });
    const err = await sdk.chat.completions.create(chat).catch((e) => e);
    const answer = limitAnswer(err);
    expect(answer?.status).toBe(429);
    expect(Number(answer?.headers['retry-after'])).toBeGreaterThan(3590);
    expect(Number(answer?.headers['retry-after'])).toBeLessThanOrEqual(3600);
  });
});
