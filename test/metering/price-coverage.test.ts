/**
 * The price table covers the providers tokenlay is used with: every model listed here is priced,
 * read through the usage dialect its provider answers in, exactly as genai-prices prices it.
 */
import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { createPricer } from '../../src/metering/prices.js';
import { usageFromJson } from '../../src/metering/usage.js';

interface Row {
  provider: string;
  base: string;
  models: string[];
  /** A chat completion's usage in the provider's dialect: 20,000 prompt tokens, 6,000 of them cached, 700 out. */
  usage: Record<string, unknown>;
  /** What genai-prices is asked, the cache split as the provider meant it. */
  expected: { input_tokens: number; cache_read_tokens: number; cache_write_tokens?: number; output_tokens: number };
}

const openaiShape = { prompt_tokens: 20_000, completion_tokens: 700, total_tokens: 20_700, prompt_tokens_details: { cached_tokens: 6000 }, completion_tokens_details: { reasoning_tokens: 0 } };
const PROVIDERS: Row[] = [
  {
    provider: 'OpenAI',
    base: 'https://api.openai.com/v1',
    models: ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'o3-mini', 'o1', 'o3', 'gpt-5', 'gpt-4-turbo', 'gpt-4', 'gpt-3.5-turbo'],
    usage: openaiShape,
    expected: { input_tokens: 20_000, cache_read_tokens: 6000, output_tokens: 700 },
  },
  {
    provider: 'Anthropic (OpenAI-compatible)',
    base: 'https://api.anthropic.com/v1',
    models: ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1', 'claude-3-7-sonnet-latest', 'claude-3-5-haiku-latest', 'claude-3-5-sonnet-20241022'],
    usage: { prompt_tokens: 20_000, completion_tokens: 700, total_tokens: 20_700, cache_read_input_tokens: 6000, cache_creation_input_tokens: 2000 },
    expected: { input_tokens: 20_000, cache_read_tokens: 6000, cache_write_tokens: 2000, output_tokens: 700 },
  },
  {
    provider: 'Mistral',
    base: 'https://api.mistral.ai/v1',
    models: ['mistral-large-latest', 'mistral-medium-latest', 'mistral-small-latest', 'codestral-latest', 'open-mistral-nemo', 'ministral-8b-latest', 'pixtral-large-latest'],
    usage: openaiShape,
    expected: { input_tokens: 20_000, cache_read_tokens: 6000, output_tokens: 700 },
  },
  {
    provider: 'OpenRouter',
    base: 'https://openrouter.ai/api/v1',
    models: ['openai/gpt-4o', 'anthropic/claude-3.5-sonnet', 'meta-llama/llama-3.3-70b-instruct', 'google/gemini-2.0-flash-001', 'deepseek/deepseek-chat', 'mistralai/mistral-large'],
    usage: { ...openaiShape, prompt_tokens_details: { cached_tokens: 6000, cache_write_tokens: 0 } },
    expected: { input_tokens: 20_000, cache_read_tokens: 6000, output_tokens: 700 },
  },
  {
    provider: 'Together',
    base: 'https://api.together.xyz/v1',
    models: ['meta-llama/Llama-3.3-70B-Instruct-Turbo', 'meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo', 'mistralai/Mixtral-8x7B-Instruct-v0.1'],
    usage: { prompt_tokens: 20_000, completion_tokens: 700, total_tokens: 20_700 },
    expected: { input_tokens: 20_000, cache_read_tokens: 0, output_tokens: 700 },
  },
];

describe('price table coverage', () => {
  const pricer = createPricer();
  for (const row of PROVIDERS) {
    it(`prices every listed ${row.provider} model through the dialect it answers in`, () => {
      for (const model of row.models) {
        const used = usageFromJson('/v1/chat/completions', { model, usage: row.usage });
        expect(used, model).toBeDefined();
        const result = pricer.price(model, used!, row.base);
        expect(result, model).toMatchObject({ priced: true, source: 'genai-prices' });
        expect(result.warning, model).toBeUndefined();
        const expected = calcPrice(row.expected, model, { providerApiUrl: row.base })!.total_price;
        expect(result.cost, model).toBeGreaterThan(0);
        expect(result.cost, model).toBeCloseTo(expected, 12);
      }
    });
  }
});
