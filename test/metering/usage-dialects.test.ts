import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { createPricer } from '../../src/metering/prices.js';
import { plausibleUsage, usageFromJson, type MeteredUsage } from '../../src/metering/usage.js';
import { USAGE_DIALECTS } from '../../src/metering/usage-dialects.js';

const pricer = createPricer();
const chat = '/v1/chat/completions';

describe('usage dialects, each from its provider’s documented shape', () => {
  it("bills DeepSeek's prompt_cache_hit_tokens at the cache rate: 10,000 prompt tokens with 9,000 hits on deepseek-chat", () => {
    const answer = {
      model: 'deepseek-chat',
      usage: { prompt_tokens: 10_000, completion_tokens: 100, total_tokens: 10_100, prompt_cache_hit_tokens: 9000, prompt_cache_miss_tokens: 1000 },
    };
    const used = usageFromJson(chat, answer)!;
    expect(used).toEqual({ inputTokens: 10_000, outputTokens: 100, cachedTokens: 9000, totalTokens: 10_100, estimated: false });
    const cost = pricer.price('deepseek-chat', used, 'https://api.deepseek.com').cost;
    // deepseek-chat's price depends on the time of day; both sides are read now.
    const expected = calcPrice({ input_tokens: 10_000, cache_read_tokens: 9000, output_tokens: 100 }, 'deepseek-chat', { providerId: 'deepseek' })!.total_price;
    const allMisses = calcPrice({ input_tokens: 10_000, output_tokens: 100 }, 'deepseek-chat', { providerId: 'deepseek' })!.total_price;
    expect(cost).toBeCloseTo(expected, 12);
    expect(cost).toBeLessThan(allMisses * 0.4); // $0.00101 against $0.00281 at the daytime rates
  });

  it("reads OpenAI chat usage: prompt_tokens_details.cached_tokens and completion_tokens_details.reasoning_tokens", () => {
    const used = usageFromJson(chat, {
      usage: { prompt_tokens: 2000, completion_tokens: 500, total_tokens: 2500, prompt_tokens_details: { cached_tokens: 1536, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 320, audio_tokens: 0 } },
    });
    expect(used).toEqual({ inputTokens: 2000, outputTokens: 500, cachedTokens: 1536, totalTokens: 2500, estimated: false, reasoningTokens: 320 });
  });

  it("reads the Responses API's input_tokens_details and output_tokens_details", () => {
    const used = usageFromJson('/v1/responses', {
      usage: { input_tokens: 900, input_tokens_details: { cached_tokens: 512 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 200 }, total_tokens: 1200 },
    });
    expect(used).toEqual({ inputTokens: 900, outputTokens: 300, cachedTokens: 512, totalTokens: 1200, estimated: false, reasoningTokens: 200 });
  });

  it("reads Anthropic's OpenAI-compatible cache fields, cache reads and writes priced at their own rates", () => {
    const used = usageFromJson(chat, {
      model: 'claude-sonnet-4-5',
      usage: { prompt_tokens: 12_000, completion_tokens: 400, total_tokens: 12_400, cache_read_input_tokens: 8000, cache_creation_input_tokens: 3000 },
    })!;
    expect(used).toMatchObject({ inputTokens: 12_000, cachedTokens: 8000, cacheWriteTokens: 3000, outputTokens: 400 });
    const expected = calcPrice({ input_tokens: 12_000, cache_read_tokens: 8000, cache_write_tokens: 3000, output_tokens: 400 }, 'claude-sonnet-4-5', { providerId: 'anthropic' })!.total_price;
    const cost = pricer.price('claude-sonnet-4-5', used, 'https://api.anthropic.com/v1').cost;
    expect(cost).toBeCloseTo(expected, 12);
    // Writing to the cache costs more than plain input, reading it less.
    const plain = pricer.price('claude-sonnet-4-5', { inputTokens: 12_000, cachedTokens: 0, outputTokens: 400 }, 'https://api.anthropic.com/v1').cost;
    expect(cost).not.toBeCloseTo(plain, 6);
    expect(usageFromJson(chat, { usage: { prompt_tokens: 100, completion_tokens: 5, cached_tokens: 60 } })).toMatchObject({ cachedTokens: 60 });
  });

  it("reads Anthropic's native Messages usage, where input_tokens leaves the cache out", () => {
    const used = usageFromJson('/v1/messages', { usage: { input_tokens: 50, cache_creation_input_tokens: 2000, cache_read_input_tokens: 10_000, output_tokens: 300 } });
    expect(used).toEqual({ inputTokens: 12_050, outputTokens: 300, cachedTokens: 10_000, cacheWriteTokens: 2000, totalTokens: 12_350, estimated: false });
  });

  it("reads OpenRouter's prompt_tokens_details.cache_write_tokens", () => {
    const used = usageFromJson(chat, { usage: { prompt_tokens: 5000, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 1000, cache_write_tokens: 3000 } } });
    expect(used).toMatchObject({ inputTokens: 5000, cachedTokens: 1000, cacheWriteTokens: 3000 });
  });

  it('has one entry per dialect, each naming its source', () => {
    expect(USAGE_DIALECTS.map((d) => d.name)).toEqual(['deepseek', 'anthropic-openai-compatible', 'openai-chat', 'anthropic-messages', 'openai-responses', 'gemini', 'audio-duration']);
    for (const d of USAGE_DIALECTS) expect(d.source.length).toBeGreaterThan(20);
  });
});

describe('plausibleUsage', () => {
  const estimate = (): MeteredUsage => ({ inputTokens: 42, outputTokens: 7, cachedTokens: 0, totalTokens: 49, estimated: true });
  const zero: MeteredUsage = { inputTokens: 0, outputTokens: 0, cachedTokens: 0, totalTokens: 0, estimated: false };

  it('estimates, flagged, an answer that delivered text but reports zero tokens', () => {
    expect(plausibleUsage(zero, 'Hello there', estimate)).toEqual({ inputTokens: 42, outputTokens: 7, cachedTokens: 0, totalTokens: 49, estimated: true });
    expect(plausibleUsage({ ...zero, inputTokens: 30, totalTokens: 30 }, 'Hello', estimate)).toEqual({ inputTokens: 30, outputTokens: 7, cachedTokens: 0, totalTokens: 37, estimated: true });
  });

  it('trusts usage that can be true', () => {
    const reported = { inputTokens: 10, outputTokens: 5, cachedTokens: 0, totalTokens: 15, estimated: false };
    expect(plausibleUsage(reported, 'Hello', estimate)).toBe(reported);
    expect(plausibleUsage({ ...zero, inputTokens: 9, totalTokens: 9 }, '', estimate)).toMatchObject({ inputTokens: 9, estimated: false }); // embeddings
    expect(plausibleUsage(undefined, 'x', estimate)).toMatchObject({ estimated: true });
  });
});
