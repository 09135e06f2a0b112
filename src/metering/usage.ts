import { usageBeyondLimits, usageFieldProblem, type UsageLimits } from './usage-bounds.js';
import { dialectOf } from './usage-dialects.js';

/**
 * Why a call's usage is estimated, as its ledger row says (`estimateReason`): `no usage` (the
 * provider reported none), `implausible usage` (it reported counts no call can have: negative,
 * fractional, not numbers, beyond what the model can write), `body cut off` (its 2xx answer broke
 * off), `caller left` (a stream's caller left before it began), `cut off` (shutdown or a fault
 * ended the call).
 */
export type EstimateReason = 'no usage' | 'implausible usage' | 'body cut off' | 'caller left' | 'cut off';

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
  /** Why the counts are estimated, when they are and the reason is known. */
  estimateReason?: EstimateReason;
  /** What the provider reported that was not believed, for the call's warning. */
  estimateNote?: string;
}

/** What {@link usageFromJson} gives for usage that fails the check of `usage-bounds.ts`: no counts, flagged. */
function implausible(note: string): MeteredUsage {
  return { inputTokens: 0, outputTokens: 0, cachedTokens: 0, totalTokens: 0, estimated: true, estimateReason: 'implausible usage', estimateNote: note };
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
 * Every token count passes `usageFieldProblem` first: usage with one that is not a whole number
 * from 0 comes back flagged `implausible usage`, without counts, for {@link plausibleUsage} to estimate.
 *
 * @returns undefined when the body has no usage with token counts.
 */
export function usageFromJson(endpoint: string, body: unknown): MeteredUsage | undefined {
  const usage = record(record(body)?.usage);
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
  if (read.reasoning > 0) out.reasoningTokens = Math.min(read.reasoning, read.output);
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
  const inputTokens = reported.inputTokens > 0 ? reported.inputTokens : guess.inputTokens;
  const cachedTokens = Math.min(reported.cachedTokens, inputTokens);
  return { inputTokens, outputTokens: guess.outputTokens, cachedTokens, totalTokens: inputTokens + guess.outputTokens, estimated: true };
}
