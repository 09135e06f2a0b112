import { dialectOf } from './usage-dialects.js';

/** Token usage of one call, as the provider reported it or as estimated. */
export interface MeteredUsage {
  /** Prompt tokens, cached ones included (OpenAI counts them in both). */
  inputTokens: number;
  outputTokens: number;
  /** The part of `inputTokens` served from the provider's prompt cache. */
  cachedTokens: number;
  totalTokens: number;
  /** True when the provider reported no (or no believable) usage and counts come from the tokenizer. */
  estimated: boolean;
  /** The part of `inputTokens` written to the provider's prompt cache (Anthropic), when reported. */
  cacheWriteTokens?: number;
  /** The part of `outputTokens` spent reasoning, when reported. */
  reasoningTokens?: number;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Reads the `usage` object of a JSON answer in any dialect of {@link USAGE_DIALECTS}: OpenAI chat,
 * completions and embeddings (`prompt_tokens`, `prompt_tokens_details.cached_tokens`), the
 * Responses API (`input_tokens`, `input_tokens_details.cached_tokens`), DeepSeek
 * (`prompt_cache_hit_tokens`), Anthropic's OpenAI-compatible and native cache fields, and
 * reasoning tokens. `endpoint` only breaks a tie when an answer carries both spellings.
 *
 * @returns undefined when the body has no usage with token counts.
 */
export function usageFromJson(endpoint: string, body: unknown): MeteredUsage | undefined {
  const usage = record(record(body)?.usage);
  if (!usage) return undefined;
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
  if (read.reasoning > 0) out.reasoningTokens = Math.min(read.reasoning, read.output);
  return out;
}

/**
 * Usage as billed: what the provider reported, unless it cannot be true. An answer that delivered
 * text but reports no output tokens (`{ prompt_tokens: 0, completion_tokens: 0 }` at the end of a
 * stream) is estimated instead, and marked `estimated`, rather than billed $0; a reported input
 * count is kept when it is not zero.
 */
export function plausibleUsage(reported: MeteredUsage | undefined, deliveredText: string, estimate: () => MeteredUsage): MeteredUsage {
  if (!reported) return estimate();
  if (reported.outputTokens > 0 || deliveredText.length === 0) return reported;
  const guess = estimate();
  const inputTokens = reported.inputTokens > 0 ? reported.inputTokens : guess.inputTokens;
  const cachedTokens = Math.min(reported.cachedTokens, inputTokens);
  return { inputTokens, outputTokens: guess.outputTokens, cachedTokens, totalTokens: inputTokens + guess.outputTokens, estimated: true };
}
