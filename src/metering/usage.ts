import { usageBeyondLimits, usageFieldProblem, type UsageLimits } from './usage-bounds.js';
import { dialectOf } from './usage-dialects.js';
import type { MeteredUsage } from './metered-usage.js';

export type { EstimateReason, MeteredUsage } from './metered-usage.js';

/** What {@link usageFromJson} gives for usage that fails the check of `usage-bounds.ts`: no counts, flagged. */
function implausible(note: string): MeteredUsage {
  return { inputTokens: 0, outputTokens: 0, cachedTokens: 0, totalTokens: 0, estimated: true, estimateReason: 'implausible usage', estimateNote: note };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** What `read` finds in the last element of `list` that has it. */
function lastOf<T>(list: unknown[], read: (item: unknown) => T | undefined): T | undefined {
  for (let i = list.length - 1; i >= 0; i--) {
    const found = read(list[i]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The usage object of an answer: `usage` (OpenAI, Anthropic and the compatible providers),
 * `usageMetadata` (Gemini), or `response.usage` (a Realtime `response.done`). A JSON array (a
 * Gemini stream read without `alt=sse`) is read from its last element that has one.
 */
export function usageObjectOf(body: unknown): Record<string, unknown> | undefined {
  if (Array.isArray(body)) return lastOf(body, usageObjectOf);
  const json = record(body);
  return record(json?.usage) ?? record(json?.usageMetadata) ?? record(record(json?.response)?.usage);
}

/**
 * The model an answer says served it: `model` (OpenAI, Anthropic and the compatible APIs) or
 * Gemini's `modelVersion`; for a JSON array, its last element that names one.
 */
export function answeredModel(body: unknown): string | undefined {
  if (Array.isArray(body)) return lastOf(body, answeredModel);
  const json = record(body);
  const model = json?.model ?? json?.modelVersion;
  return typeof model === 'string' && model.length > 0 ? model : undefined;
}

/** The parts a dialect reported, as {@link MeteredUsage}'s optional fields, each set only when above zero. */
const PARTS = [
  ['reasoning', 'reasoningTokens'],
  ['inputAudio', 'inputAudioTokens'],
  ['cacheAudioRead', 'cachedAudioTokens'],
  ['inputImage', 'inputImageTokens'],
  ['cacheImageRead', 'cachedImageTokens'],
  ['outputAudio', 'outputAudioTokens'],
  ['outputImage', 'outputImageTokens'],
  ['audioSeconds', 'audioSeconds'],
] as const;

/**
 * Reads the usage of a JSON answer in any dialect of {@link USAGE_DIALECTS}: OpenAI chat,
 * completions and embeddings (`prompt_tokens`, `prompt_tokens_details.cached_tokens` and
 * `audio_tokens`), the Responses API, Realtime, images and transcription (`input_tokens`,
 * `input_tokens_details`), DeepSeek (`prompt_cache_hit_tokens`), Anthropic's OpenAI-compatible
 * and native cache fields, Gemini's `usageMetadata`, reasoning tokens inside or on top of the
 * completion, and audio seconds. `endpoint` only breaks a tie when an answer carries both spellings.
 *
 * Every token count passes `usageFieldProblem` first: usage with one that is not a whole number
 * from 0 comes back flagged `implausible usage`, without counts, for {@link plausibleUsage} to estimate.
 *
 * @returns undefined when the body has no usage with token counts.
 */
export function usageFromJson(endpoint: string, body: unknown): MeteredUsage | undefined {
  const usage = usageObjectOf(body);
  if (!usage) return undefined;
  const problem = usageFieldProblem(usage);
  if (problem) return implausible(problem);
  const dialect = dialectOf(usage, endpoint);
  if (!dialect) return undefined;
  const read = dialect.read(usage);
  const cachedTokens = Math.min(read.cacheRead, read.input);
  const out: MeteredUsage = {
    inputTokens: read.input,
    outputTokens: read.output,
    cachedTokens,
    totalTokens: read.input + read.output,
    estimated: false,
  };
  if (read.cacheWrite > 0) out.cacheWriteTokens = Math.min(read.cacheWrite, read.input - cachedTokens);
  for (const [from, to] of PARTS) if (read[from] > 0) out[to] = read[from];
  if (out.reasoningTokens !== undefined) out.reasoningTokens = Math.min(out.reasoningTokens, read.output);
  return out;
}

/**
 * Usage as billed: what the provider reported, unless it cannot be true. An answer that delivered
 * text but reports no output tokens (`{ prompt_tokens: 0, completion_tokens: 0 }` at the end of a
 * stream) is estimated instead, and marked `estimated`, rather than billed $0; a reported input
 * count is kept when it is not zero. Usage that failed the field check, or goes beyond `limits`
 * (see `usageLimits`), is estimated whole and flagged `implausible usage`.
 */
export function plausibleUsage(reported: MeteredUsage | undefined, deliveredText: string, estimate: () => MeteredUsage, limits?: UsageLimits): MeteredUsage {
  if (!reported) return estimate();
  const problem = reported.estimateReason === 'implausible usage' ? reported.estimateNote : limits && usageBeyondLimits(reported, limits);
  if (problem !== undefined) return { ...estimate(), estimated: true, estimateReason: 'implausible usage', estimateNote: problem };
  if (reported.outputTokens > 0 || deliveredText.length === 0) return reported;
  const guess = estimate();
  // What the provider reported of the input stands (cache reads and writes, audio); the output is estimated.
  if (reported.inputTokens > 0) {
    const { reasoningTokens: _r, outputAudioTokens: _a, outputImageTokens: _i, ...input } = reported;
    return { ...input, outputTokens: guess.outputTokens, totalTokens: reported.inputTokens + guess.outputTokens, estimated: true };
  }
  return { inputTokens: guess.inputTokens, outputTokens: guess.outputTokens, cachedTokens: 0, totalTokens: guess.inputTokens + guess.outputTokens, estimated: true };
}
