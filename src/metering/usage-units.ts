/**
 * A call's usage in the units of `@pydantic/genai-prices`: each count is a total of its own kind,
 * and a narrower count is a part of the wider one it names (`input_audio_tokens` is part of
 * `input_tokens`, `cache_audio_read_tokens` of both `cache_read_tokens` and `input_audio_tokens`).
 * The price table prices each part at its own rate where it has one, else at the wider rate.
 */
import type { MeteredUsage } from './metered-usage.js';

/** The usage keys tokenlay fills, each with the keys it is a part of (genai-prices' units.yml). */
export const PRICE_UNITS = {
  input_tokens: [],
  cache_read_tokens: ['input_tokens'],
  cache_write_tokens: ['input_tokens'],
  input_audio_tokens: ['input_tokens'],
  cache_audio_read_tokens: ['input_tokens', 'cache_read_tokens', 'input_audio_tokens'],
  input_image_tokens: ['input_tokens'],
  cache_image_read_tokens: ['input_tokens', 'cache_read_tokens', 'input_image_tokens'],
  output_tokens: [],
  output_audio_tokens: ['output_tokens'],
  output_image_tokens: ['output_tokens'],
  output_reasoning_tokens: ['output_tokens'],
  audio_seconds: [],
  input_audio_seconds: ['audio_seconds'],
} as const satisfies Record<string, readonly string[]>;

export type PriceUnit = keyof typeof PRICE_UNITS;

/** A usage record for `calcPrice`: every key of {@link PRICE_UNITS}, each a count >= 0. */
export type PriceUsage = Record<PriceUnit, number>;

/** What a price is computed from: the three counts every answer has, and the parts some report. */
export type PricedUsage = Pick<MeteredUsage, 'inputTokens' | 'outputTokens' | 'cachedTokens'> &
  Partial<
    Pick<
      MeteredUsage,
      'cacheWriteTokens' | 'reasoningTokens' | 'inputAudioTokens' | 'cachedAudioTokens' | 'inputImageTokens' | 'cachedImageTokens' | 'outputAudioTokens' | 'outputImageTokens' | 'audioSeconds'
    >
  >;

/** A usage count as a price reads it: a finite number above 0, else 0. */
export const unitCount = (value: number | undefined) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0);

/**
 * The usage as genai-prices reads it, each part cut to fit inside what it is a part of (so no
 * token is priced twice and calcPrice never refuses the record): cached and written input within
 * the input, audio and image input within what is left of it, cached audio and images within both.
 */
export function priceUsage(usage: PricedUsage): PriceUsage {
  const input = unitCount(usage.inputTokens);
  const cached = Math.min(unitCount(usage.cachedTokens), input);
  const written = Math.min(unitCount(usage.cacheWriteTokens), input - cached);
  const audio = Math.min(unitCount(usage.inputAudioTokens), input);
  const cachedAudio = Math.min(unitCount(usage.cachedAudioTokens), audio, cached);
  // Plain text input left once every part is taken out must not go below zero.
  const cachedImage = Math.min(unitCount(usage.cachedImageTokens), cached - cachedAudio);
  const room = input - cached - written - (audio - cachedAudio);
  const image = cachedImage + Math.max(0, Math.min(unitCount(usage.inputImageTokens) - cachedImage, room));
  const output = unitCount(usage.outputTokens);
  const outputAudio = Math.min(unitCount(usage.outputAudioTokens), output);
  const outputImage = Math.min(unitCount(usage.outputImageTokens), output - outputAudio);
  const reasoning = Math.min(unitCount(usage.reasoningTokens), output - outputAudio - outputImage);
  const seconds = unitCount(usage.audioSeconds);
  return {
    input_tokens: input,
    cache_read_tokens: cached,
    cache_write_tokens: written,
    input_audio_tokens: audio,
    cache_audio_read_tokens: cachedAudio,
    input_image_tokens: image,
    cache_image_read_tokens: cachedImage,
    output_tokens: output,
    output_audio_tokens: outputAudio,
    output_image_tokens: outputImage,
    output_reasoning_tokens: reasoning,
    audio_seconds: seconds,
    input_audio_seconds: seconds,
  };
}
