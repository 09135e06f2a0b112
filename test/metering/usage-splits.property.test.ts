/**
 * Property: however a call's tokens split (cached, written to the cache, audio, reasoning, audio
 * out), an answer in each provider's own shape, JSON and stream, is priced within 0.1 % of
 * genai-prices' calcPrice for the same split. Bounded: a fixed number of runs per dialect.
 */
import { calcPrice } from '@pydantic/genai-prices';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPricer } from '../../src/metering/prices.js';
import { usageFromJson } from '../../src/metering/usage.js';
import { answerIn, meterSse, type Dialect, type Split } from './dialect-answers.js';

/** Each dialect with models that price the parts differently (audio, cache writes, tiers), and the base they answer from. */
const DIALECTS: Array<{ dialect: Dialect; base: string; models: string[] }> = [
  { dialect: 'openai-chat', base: 'https://api.openai.com/v1', models: ['gpt-4o', 'gpt-audio', 'gpt-4o-mini-audio-preview', 'o3-mini', 'gpt-5'] },
  { dialect: 'openai-responses', base: 'https://api.openai.com/v1', models: ['gpt-4.1', 'gpt-realtime', 'o4-mini'] },
  { dialect: 'openai-chat', base: 'https://openrouter.ai/api/v1', models: ['anthropic/claude-3.5-sonnet', 'openai/gpt-4o-mini', 'google/gemini-2.5-pro'] },
  { dialect: 'anthropic', base: 'https://api.anthropic.com/v1', models: ['claude-sonnet-4-5', 'claude-3-5-haiku-latest', 'claude-opus-4-1'] },
  { dialect: 'gemini', base: 'https://generativelanguage.googleapis.com/v1beta', models: ['gemini-2.5-flash', 'gemini-2.5-pro', 'gemini-2.0-flash'] },
  { dialect: 'deepseek', base: 'https://api.deepseek.com/v1', models: ['deepseek-chat', 'deepseek-reasoner'] },
  { dialect: 'xai', base: 'https://api.x.ai/v1', models: ['grok-3-mini', 'grok-4', 'grok-3'] },
];

/** A split whose parts fit in their wholes: cached + written + audio within the input, reasoning + audio within the output. */
const split: fc.Arbitrary<Split> = fc
  .record({
    input: fc.integer({ min: 1, max: 400_000 }),
    // At least one: an answer that delivered text with 0 output tokens is estimated instead (plausibleUsage).
    output: fc.integer({ min: 1, max: 60_000 }),
    parts: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
    outParts: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
  })
  .map(({ input, output, parts: [c, w, a], outParts: [r, o] }) => {
    const cached = Math.floor(input * c);
    const cacheWrite = Math.floor((input - cached) * w);
    const audio = Math.floor((input - cached - cacheWrite) * a);
    const reasoning = Math.floor(output * r);
    const outputAudio = Math.floor((output - reasoning) * o);
    return { input, cached, cacheWrite, audio, output, reasoning, outputAudio };
  });

const pricer = createPricer();

describe('random usage splits priced as calcPrice prices them, in every dialect', () => {
  for (const { dialect, base, models } of DIALECTS) {
    it(`prices ${dialect} answers from ${new URL(base).host} within 0.1 %, JSON and stream`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...models), split, async (model, s) => {
          const answer = answerIn(dialect, model, s);
          const truth = calcPrice(answer.truth, model, { providerApiUrl: base })!.total_price;
          const json = pricer.price(model, usageFromJson(answer.endpoint, answer.json)!, base).cost;
          const streamed = await meterSse(answer, model);
          const stream = pricer.price(streamed.model ?? model, streamed, base).cost;
          expect(Math.abs(json - truth)).toBeLessThanOrEqual(truth * 0.001);
          expect(Math.abs(stream - truth)).toBeLessThanOrEqual(truth * 0.001);
          // The count is whole: every output token (reasoning on top or inside) is in outputTokens once.
          expect(streamed.outputTokens).toBe(s.output);
        }),
        { numRuns: 40 },
      );
    }, 60_000);
  }
});
