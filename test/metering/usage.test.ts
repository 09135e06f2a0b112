import { describe, expect, it } from 'vitest';
import { usageFromJson } from '../../src/metering/usage.js';

describe('usageFromJson', () => {
  it('reads chat completion usage with cached prompt tokens', () => {
    const body = {
      object: 'chat.completion',
      usage: { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 1024 } },
    };
    expect(usageFromJson('/v1/chat/completions', body)).toEqual({
      inputTokens: 1200, outputTokens: 300, cachedTokens: 1024, totalTokens: 1500, estimated: false,
    });
  });

  it('reads Responses API usage with cached input tokens', () => {
    const body = {
      object: 'response',
      usage: { input_tokens: 80, input_tokens_details: { cached_tokens: 64 }, output_tokens: 20, output_tokens_details: { reasoning_tokens: 12 }, total_tokens: 100 },
    };
    expect(usageFromJson('/v1/responses', body)).toEqual({
      inputTokens: 80, outputTokens: 20, cachedTokens: 64, totalTokens: 100, estimated: false, reasoningTokens: 12,
    });
  });

  it('reads embeddings usage, which has prompt tokens only', () => {
    expect(usageFromJson('/v1/embeddings', { object: 'list', usage: { prompt_tokens: 9, total_tokens: 9 } })).toEqual({
      inputTokens: 9, outputTokens: 0, cachedTokens: 0, totalTokens: 9, estimated: false,
    });
  });

  it('reads legacy completions usage', () => {
    expect(usageFromJson('/v1/completions', { object: 'text_completion', usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }))
      .toMatchObject({ inputTokens: 5, outputTokens: 7, totalTokens: 12 });
  });

  it('adds input and output when a provider omits total_tokens', () => {
    expect(usageFromJson('/v1/chat/completions', { usage: { prompt_tokens: 3, completion_tokens: 4 } })?.totalTokens).toBe(7);
  });

  it('returns undefined for a body without usage', () => {
    expect(usageFromJson('/v1/chat/completions', { choices: [] })).toBeUndefined();
    expect(usageFromJson('/v1/chat/completions', { usage: null })).toBeUndefined();
    expect(usageFromJson('/v1/chat/completions', { usage: { foo: 1 } })).toBeUndefined();
    expect(usageFromJson('/v1/chat/completions', 'not json')).toBeUndefined();
  });
});
