/**
 * The price table covers every model of every provider on the README's allowlist: for each model
 * `@pydantic/genai-prices` lists under OpenAI, Anthropic, Google, Mistral, Groq, Together,
 * Fireworks, DeepSeek, xAI and OpenRouter, an answer in that provider's own documented shape,
 * JSON and event stream, is priced within 0.1 % of calcPrice. The models left out are listed
 * below with the reason, and the test fails when that list is no longer true.
 */
import { calcPrice, findProvider, type MatchLogic, type ModelInfo } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { createPricer } from '../../src/metering/prices.js';
import { usageFromJson } from '../../src/metering/usage.js';
import { answerIn, meterSse, type Dialect, type Split } from './dialect-answers.js';

/** Each provider of the allowlist: its genai-prices id, the base it is called at, the dialects it answers in. */
const PROVIDERS: Array<{ id: string; base: string; dialects: Dialect[] }> = [
  { id: 'openai', base: 'https://api.openai.com/v1', dialects: ['openai-chat', 'openai-responses'] },
  { id: 'anthropic', base: 'https://api.anthropic.com/v1', dialects: ['anthropic'] },
  { id: 'google', base: 'https://generativelanguage.googleapis.com/v1beta', dialects: ['gemini'] },
  { id: 'mistral', base: 'https://api.mistral.ai/v1', dialects: ['openai-chat'] },
  { id: 'groq', base: 'https://api.groq.com/openai/v1', dialects: ['openai-chat'] },
  { id: 'together', base: 'https://api.together.xyz/v1', dialects: ['openai-chat'] },
  { id: 'fireworks', base: 'https://api.fireworks.ai/inference/v1', dialects: ['openai-chat'] },
  { id: 'deepseek', base: 'https://api.deepseek.com/v1', dialects: ['deepseek'] },
  { id: 'x-ai', base: 'https://api.x.ai/v1', dialects: ['xai'] },
  { id: 'openrouter', base: 'https://openrouter.ai/api/v1', dialects: ['openai-chat'] },
];

/** 20,000 prompt tokens (6,000 cached, 1,500 written to the cache, 1,000 audio) and 700 out (200 reasoning, 100 audio). */
const SPLIT: Split = { input: 20_000, cached: 6000, cacheWrite: 1500, audio: 1000, output: 700, reasoning: 200, outputAudio: 100 };

const FREE = 'free: the table gives it no price, or $0 a token';

/**
 * The models left out that are not free, each with the reason: none is priced per token, so a
 * token answer costs $0 in calcPrice too. Transcription by the hour is metered from `usage.seconds`
 * (test/metering/provider-dialects.test.ts); pages and voice sessions report no usage tokenlay reads.
 */
const HOURS = 'priced per audio_hours, input_audio_hours, not per token';
const PAGES = 'priced per input_document_kpages, input_annotated_document_kpages, not per token';
const VOICE = 'priced per audio_hours, input_text_messages_kcount, not per token';
const LEFT_OUT: Record<string, string> = {
  'openai:gpt-transcribe': HOURS,
  'openai:whisper-1': HOURS,
  'mistral:mistral-ocr-2503': 'priced per input_document_kpages, not per token',
  'mistral:mistral-ocr-2505': PAGES,
  'mistral:mistral-ocr-2512': PAGES,
  'mistral:mistral-ocr-4-0': PAGES,
  'mistral:mistral-ocr-4-1': PAGES,
  'mistral:mistral-ocr-latest': PAGES,
  'mistral:voxtral-mini-2602': HOURS,
  'groq:whisper-large-v3': HOURS,
  'groq:whisper-large-v3-turbo': HOURS,
  'x-ai:grok-voice-latest': VOICE,
  'x-ai:grok-voice-think-fast-1.0': VOICE,
  'x-ai:grok-voice-think-fast-2.0': VOICE,
};

/** Why a model's answer costs $0 in calcPrice: free, or priced in units other than tokens. */
function reasonFor(entry: ModelInfo): string {
  const prices = Array.isArray(entry.prices) ? entry.prices.map((p) => p.prices) : [entry.prices];
  const keys = [...new Set(prices.flatMap((p) => Object.keys(p)))];
  return keys.length === 0 || keys.some((k) => k.endsWith('_mtok')) ? FREE : `priced per ${keys.join(', ')}, not per token`;
}

const pricer = createPricer();

/** Names a provider would answer with that the entry's match rule accepts: its id, else what the rule names. */
function candidateNames(match: MatchLogic): string[] {
  if ('equals' in match) return [match.equals];
  if ('starts_with' in match) return [match.starts_with];
  if ('contains' in match) return [match.contains];
  if ('or' in match) return match.or.flatMap(candidateNames);
  if ('and' in match) return match.and.flatMap(candidateNames);
  return [];
}

/** The first name that calcPrice resolves to this very entry under its provider. */
function nameOf(model: ModelInfo, base: string): string | undefined {
  return [model.id, ...candidateNames(model.match)].find((name) => calcPrice({ input_tokens: 1 }, name, { providerApiUrl: base })?.model.id === model.id);
}

/** Within 0.1 % of calcPrice (exactly 0 when calcPrice says 0). */
function within(cost: number, truth: number): boolean {
  return Math.abs(cost - truth) <= truth * 0.001;
}

describe('price table coverage: every model of every allowlisted provider, in its own shape', () => {
  for (const provider of PROVIDERS) {
    it(`prices every ${provider.id} model within 0.1 % of calcPrice, JSON and stream`, async () => {
      const models = findProvider({ providerId: provider.id })?.models ?? [];
      expect(models.length, provider.id).toBeGreaterThan(0);
      const wrong: string[] = [];
      const leftOut = new Map<string, string>();
      const priced = new Set<string>();
      for (const entry of models) {
        const id = nameOf(entry, provider.base);
        if (id === undefined) {
          leftOut.set(entry.id, 'no model name reaches this entry through its match rule');
          continue;
        }
        for (const dialect of provider.dialects) {
          const answer = answerIn(dialect, id, SPLIT);
          const truth = calcPrice(answer.truth, id, { providerApiUrl: provider.base })!.total_price;
          if (truth === 0) {
            leftOut.set(entry.id, reasonFor(entry));
            continue;
          }
          const json = usageFromJson(answer.endpoint, answer.json);
          const fromJson = json ? pricer.price(id, json, provider.base).cost : NaN;
          const streamed = await meterSse(answer, id);
          const fromStream = pricer.price(streamed.model ?? id, streamed, provider.base).cost;
          priced.add(entry.id);
          if (!within(fromJson, truth)) wrong.push(`${id} (${dialect} JSON): ${fromJson} against ${truth}`);
          if (!within(fromStream, truth)) wrong.push(`${id} (${dialect} stream): ${fromStream} against ${truth}`);
        }
      }
      expect(wrong).toEqual([]);
      // Every entry is either priced both ways or left out with its reason.
      expect(priced.size + [...leftOut.keys()].filter((m) => !priced.has(m)).length).toBe(new Set(models.map((m) => m.id)).size);
      expect(priced.size).toBeGreaterThan(0);
      const notFree = Object.fromEntries([...leftOut].filter(([, reason]) => reason !== FREE).map(([model, reason]) => [`${provider.id}:${model}`, reason]));
      expect(notFree).toEqual(Object.fromEntries(Object.entries(LEFT_OUT).filter(([key]) => key.startsWith(`${provider.id}:`))));
    }, 120_000);
  }
});
