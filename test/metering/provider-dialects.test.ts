/**
 * Each provider's usage read in its own words and priced as genai-prices' calcPrice prices it:
 * audio and image tokens at their rates, reasoning reported on top of the completion, Gemini's
 * usageMetadata, every endpoint that reports usage, and the model that answered.
 */
import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { priceAnswer } from '../../src/metering/price-answer.js';
import { createPricer } from '../../src/metering/prices.js';
import { usageFromJson } from '../../src/metering/usage.js';

const pricer = createPricer();
const OPENAI = 'https://api.openai.com/v1';
const chat = '/v1/chat/completions';

function truth(usage: Record<string, number>, model: string, providerId: string): number {
  const result = calcPrice(usage, model, { providerId });
  if (!result) throw new Error(`genai-prices has no price for ${providerId}/${model}`);
  return result.total_price;
}

/** Within 0.1 % of the truth. */
function expectPrice(cost: number, expected: number): void {
  expect(expected).toBeGreaterThan(0);
  expect(Math.abs(cost - expected)).toBeLessThanOrEqual(expected * 0.001);
}

describe('audio and image tokens at their own rates', () => {
  it('prices gpt-audio with 1,000 of 1,200 input and 250 of 300 output tokens as audio at $0.04900, not $0.00600', () => {
    const used = usageFromJson(chat, {
      model: 'gpt-audio',
      usage: { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500, prompt_tokens_details: { audio_tokens: 1000, cached_tokens: 0 }, completion_tokens_details: { audio_tokens: 250, reasoning_tokens: 0 } },
    })!;
    expect(used).toMatchObject({ inputTokens: 1200, outputTokens: 300, inputAudioTokens: 1000, outputAudioTokens: 250 });
    const cost = pricer.price('gpt-audio', used, OPENAI).cost;
    expect(cost).toBeCloseTo(0.049, 9);
    expectPrice(cost, truth({ input_tokens: 1200, input_audio_tokens: 1000, output_tokens: 300, output_audio_tokens: 250 }, 'gpt-audio', 'openai'));
  });

  it("prices a Realtime model's usage (input_token_details with cached audio, output_token_details)", () => {
    const used = usageFromJson('/v1/realtime', {
      type: 'response.done',
      response: {
        usage: {
          total_tokens: 3300, input_tokens: 3000, output_tokens: 300,
          input_token_details: { text_tokens: 800, audio_tokens: 2000, image_tokens: 200, cached_tokens: 1200, cached_tokens_details: { text_tokens: 400, audio_tokens: 700, image_tokens: 100 } },
          output_token_details: { text_tokens: 60, audio_tokens: 240 },
        },
      },
    })!;
    expect(used).toMatchObject({ inputTokens: 3000, cachedTokens: 1200, inputAudioTokens: 2000, cachedAudioTokens: 700, inputImageTokens: 200, cachedImageTokens: 100, outputAudioTokens: 240 });
    for (const model of ['gpt-realtime', 'gpt-4o-realtime-preview', 'gpt-4o-mini-realtime-preview']) {
      const expected = truth(
        { input_tokens: 3000, cache_read_tokens: 1200, input_audio_tokens: 2000, cache_audio_read_tokens: 700, input_image_tokens: 200, cache_image_read_tokens: 100, output_tokens: 300, output_audio_tokens: 240 },
        model,
        'openai',
      );
      expectPrice(pricer.price(model, used, OPENAI).cost, expected);
    }
  });

  it("prices the Responses API's audio input and gpt-image-1's image tokens", () => {
    const responses = usageFromJson('/v1/responses', {
      usage: { input_tokens: 1500, input_tokens_details: { cached_tokens: 0, audio_tokens: 1100 }, output_tokens: 200, output_tokens_details: { reasoning_tokens: 0, audio_tokens: 150 }, total_tokens: 1700 },
    })!;
    expectPrice(pricer.price('gpt-audio', responses, OPENAI).cost, truth({ input_tokens: 1500, input_audio_tokens: 1100, output_tokens: 200, output_audio_tokens: 150 }, 'gpt-audio', 'openai'));
    const image = usageFromJson('/v1/images/generations', {
      created: 0,
      data: [{ b64_json: 'AAAA' }],
      usage: { total_tokens: 4410, input_tokens: 250, output_tokens: 4160, input_tokens_details: { text_tokens: 50, image_tokens: 200 } },
    })!;
    expect(image).toMatchObject({ inputTokens: 250, inputImageTokens: 200, outputTokens: 4160 });
    expectPrice(pricer.price('gpt-image-1', image, OPENAI).cost, truth({ input_tokens: 250, input_image_tokens: 200, output_tokens: 4160 }, 'gpt-image-1', 'openai'));
  });
});

describe('reasoning tokens reported on top of the completion', () => {
  const xai = { prompt_tokens: 10_120, completion_tokens: 1499, total_tokens: 14_428, prompt_tokens_details: { cached_tokens: 128 }, completion_tokens_details: { reasoning_tokens: 2809 } };

  it('charges and counts xAI grok-3-mini reasoning: $0.0051612, not $0.0037567, and 2,809 more tokens', () => {
    const used = usageFromJson(chat, { model: 'grok-3-mini', usage: xai })!;
    expect(used).toMatchObject({ inputTokens: 10_120, outputTokens: 1499 + 2809, reasoningTokens: 2809, totalTokens: 14_428 });
    const cost = pricer.price('grok-3-mini', used, 'https://api.x.ai/v1').cost;
    expect(cost).toBeCloseTo(0.0051612, 9);
    expectPrice(cost, truth({ input_tokens: 10_120, cache_read_tokens: 128, output_tokens: 1499 + 2809, output_reasoning_tokens: 2809 }, 'grok-3-mini', 'x-ai'));
  });

  it("never charges OpenAI's reasoning twice: inside the completion when total_tokens says so", () => {
    const used = usageFromJson(chat, { usage: { prompt_tokens: 1000, completion_tokens: 3000, total_tokens: 4000, completion_tokens_details: { reasoning_tokens: 2800 } } })!;
    expect(used).toMatchObject({ outputTokens: 3000, reasoningTokens: 2800, totalTokens: 4000 });
  });

  it('decides from the numbers, not the provider: on top without a total only when reasoning exceeds the completion', () => {
    // The same xAI numbers without a name or total: 2,809 reasoning cannot be inside 1,499 completion tokens.
    const noTotal = usageFromJson(chat, { usage: { prompt_tokens: 10_120, completion_tokens: 1499, completion_tokens_details: { reasoning_tokens: 2809 } } })!;
    expect(noTotal.outputTokens).toBe(4308);
    // xAI's older top-level reasoning_tokens, with a total that says "on top".
    expect(usageFromJson(chat, { usage: { prompt_tokens: 10, completion_tokens: 5, reasoning_tokens: 20, total_tokens: 35 } })!.outputTokens).toBe(25);
    // OpenAI's shape with reasoning smaller than the completion and no total: inside.
    expect(usageFromJson(chat, { usage: { prompt_tokens: 10, completion_tokens: 50, completion_tokens_details: { reasoning_tokens: 20 } } })!.outputTokens).toBe(50);
  });
});

describe("Gemini's usageMetadata", () => {
  it('reads promptTokenCount, candidatesTokenCount, thoughtsTokenCount and cachedContentTokenCount, priced as calcPrice prices them', () => {
    const answer = {
      candidates: [{ content: { role: 'model', parts: [{ text: 'Hi' }] }, finishReason: 'STOP' }],
      modelVersion: 'gemini-2.5-flash',
      usageMetadata: {
        promptTokenCount: 12_000, candidatesTokenCount: 800, thoughtsTokenCount: 1500, cachedContentTokenCount: 8000, totalTokenCount: 14_300,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: 11_000 }, { modality: 'AUDIO', tokenCount: 1000 }],
        cacheTokensDetails: [{ modality: 'TEXT', tokenCount: 8000 }],
      },
    };
    const used = usageFromJson('/v1beta/models/gemini-2.5-flash:generateContent', answer)!;
    expect(used).toMatchObject({ inputTokens: 12_000, outputTokens: 2300, reasoningTokens: 1500, cachedTokens: 8000, inputAudioTokens: 1000, totalTokens: 14_300 });
    const expected = truth({ input_tokens: 12_000, cache_read_tokens: 8000, input_audio_tokens: 1000, cache_audio_read_tokens: 0, output_tokens: 2300, output_reasoning_tokens: 1500 }, 'gemini-2.5-flash', 'google');
    expectPrice(pricer.price('gemini-2.5-flash', used, 'https://generativelanguage.googleapis.com/v1beta').cost, expected);
  });
});

describe('every endpoint that reports usage', () => {
  it('meters embeddings, legacy completions, transcription tokens and transcription seconds', () => {
    const embeddings = usageFromJson('/v1/embeddings', { object: 'list', data: [], usage: { prompt_tokens: 5000, total_tokens: 5000 } })!;
    expectPrice(pricer.price('text-embedding-3-small', embeddings, OPENAI).cost, truth({ input_tokens: 5000 }, 'text-embedding-3-small', 'openai'));
    const completions = usageFromJson('/v1/completions', { usage: { prompt_tokens: 900, completion_tokens: 100, total_tokens: 1000 } })!;
    expectPrice(pricer.price('gpt-3.5-turbo-instruct', completions, OPENAI).cost, truth({ input_tokens: 900, output_tokens: 100 }, 'gpt-3.5-turbo-instruct', 'openai'));
    const tokens = usageFromJson('/v1/audio/transcriptions', {
      text: 'Hello.',
      usage: { type: 'tokens', input_tokens: 1200, input_token_details: { text_tokens: 0, audio_tokens: 1200 }, output_tokens: 40, total_tokens: 1240 },
    })!;
    expect(tokens).toMatchObject({ inputTokens: 1200, inputAudioTokens: 1200, outputTokens: 40 });
    expectPrice(pricer.price('gpt-4o-transcribe', tokens, OPENAI).cost, truth({ input_tokens: 1200, input_audio_tokens: 1200, output_tokens: 40 }, 'gpt-4o-transcribe', 'openai'));
    const seconds = usageFromJson('/v1/audio/transcriptions', { text: 'Hello.', usage: { type: 'duration', seconds: 95 } })!;
    expect(seconds).toMatchObject({ audioSeconds: 95, inputTokens: 0 });
    expectPrice(pricer.price('whisper-1', seconds, OPENAI).cost, truth({ audio_seconds: 95, input_audio_seconds: 95 }, 'whisper-1', 'openai'));
  });
});

describe('the model that answered is priced', () => {
  const usage = (input: number, output: number) => ({ inputTokens: input, outputTokens: output, cachedTokens: 0 });

  it('prices OpenRouter serving openai/gpt-4o-mini for anthropic/claude-3.5-sonnet as gpt-4o-mini', () => {
    const used = usage(1000, 117);
    const served = priceAnswer(pricer, 'anthropic/claude-3.5-sonnet', 'openai/gpt-4o-mini', used, 'https://openrouter.ai/api/v1');
    expect(served.model).toBe('openai/gpt-4o-mini');
    expect(served.warning).toBeUndefined();
    expectPrice(served.cost, calcPrice({ input_tokens: 1000, output_tokens: 117 }, 'openai/gpt-4o-mini', { providerApiUrl: 'https://openrouter.ai/api/v1' })!.total_price);
    expect(served.cost).toBeLessThan(pricer.price('anthropic/claude-3.5-sonnet', used, 'https://openrouter.ai/api/v1').cost / 10);
  });

  it('prices Anthropic serving claude-3-5-haiku for claude-3-opus as haiku, and a dated snapshot as itself', () => {
    const used = usage(1002, 146);
    const served = priceAnswer(pricer, 'claude-3-opus', 'claude-3-5-haiku', used, 'https://api.anthropic.com/v1');
    expectPrice(served.cost, truth({ input_tokens: 1002, output_tokens: 146 }, 'claude-3-5-haiku', 'anthropic'));
    expect(served.cost).toBeCloseTo(0.0013856, 9);
    const dated = priceAnswer(pricer, 'gpt-4o', 'gpt-4o-2024-05-13', usage(1000, 1000), OPENAI);
    expectPrice(dated.cost, truth({ input_tokens: 1000, output_tokens: 1000 }, 'gpt-4o-2024-05-13', 'openai'));
    expect(dated.cost).not.toBeCloseTo(pricer.price('gpt-4o', usage(1000, 1000), OPENAI).cost, 6);
  });

  it('falls back to the asked model when the served name has no price, and says so', () => {
    const used = usage(1000, 100);
    const served = priceAnswer(pricer, 'gpt-4o-mini', 'acme-served-7', used, OPENAI);
    expect(served.cost).toBe(pricer.price('gpt-4o-mini', used, OPENAI).cost);
    expect(served.model).toBe('acme-served-7');
    expect(served.warning).toBe(
      'No price is known for model "acme-served-7", which answered; the call is priced as "gpt-4o-mini", the model asked for. Add a price for "acme-served-7" to price it as itself.',
    );
  });

  it('lets a price override win: one for the served model, else one for the model asked', () => {
    const custom = createPricer({ overrides: { 'my-deployment': { input: 1, output: 1 } } });
    expect(priceAnswer(custom, 'my-deployment', 'gpt-4o-mini-2024-07-18', usage(1_000_000, 0), OPENAI)).toEqual({ cost: 1, model: 'gpt-4o-mini-2024-07-18' });
    const served = createPricer({ overrides: { 'gpt-4o-mini': { input: 2, output: 2 } } });
    expect(priceAnswer(served, 'my-deployment', 'gpt-4o-mini-2024-07-18', usage(1_000_000, 0), OPENAI).cost).toBe(2);
  });
});
