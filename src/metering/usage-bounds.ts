/**
 * The one check every usage number a provider reports passes before it is billed, whatever the
 * provider's shape: a token count is a whole number from 0 up to what the call can hold. Usage
 * that fails it is estimated and flagged, never stored as given, so that one bad answer cannot
 * put 1e308 into a ledger, a counter, `/metrics` or a cost header.
 */
import { MAX_CHOICES, MAX_OUTPUT_TOKENS, type Pricer } from './prices.js';
import type { MeteredUsage } from './metered-usage.js';

/**
 * The most input tokens one call is believed to have read: 16 Mi (2^24). Above the largest
 * context window offered today (10 M tokens, Llama 4 Scout) and OpenAI's largest embeddings batch
 * (2,048 inputs of 8,191 tokens).
 */
export const MAX_INPUT_TOKENS = 16_777_216;

/** What one call can have used at most: input read and output written (all choices together). */
export interface UsageLimits {
  inputTokens: number;
  outputTokens: number;
}

/** Whether `value` is a token count as a provider must report it: a non-negative safe integer. */
export function isTokenCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The most audio one call is believed to have been billed for, in seconds: a day. OpenAI's
 * transcription takes files up to 25 MB, hours of speech at most.
 */
export const MAX_AUDIO_SECONDS = 86_400;

// Token counts in every provider's usage shape: `prompt_tokens`, `cached_tokens`,
// `cache_read_input_tokens`, `prompt_cache_hit_tokens`, Gemini's `promptTokenCount`, …; other
// numbers there (OpenRouter's `cost`, Groq's `queue_time`, request counts) are not token counts.
const TOKEN_FIELD = /tokens$|token_?count$/i;
// Audio billed by duration (`usage.seconds` of a transcription).
const SECONDS_FIELD = /(^|_)seconds$/i;
const MAX_DEPTH = 8;

/** Whether `value` is a duration as a provider may bill it: a number of seconds from 0 to {@link MAX_AUDIO_SECONDS}. */
function isSeconds(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_AUDIO_SECONDS;
}

function shown(value: unknown): string {
  const text = typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Why `field` under `key` is not sound (` is …`, to follow its path), or undefined. */
function fieldProblem(key: string, field: unknown): string | undefined {
  if (TOKEN_FIELD.test(key) && !isTokenCount(field)) return ` is ${shown(field)}, not a token count (a whole number from 0)`;
  if (SECONDS_FIELD.test(key) && !isSeconds(field)) return ` is ${shown(field)}, not a duration (seconds from 0 to ${MAX_AUDIO_SECONDS})`;
  return undefined;
}

// Usage is checked on every call and is nearly always sound: the walk allocates nothing (no entry
// arrays, no path strings) until it finds a problem, and builds the field's path on the way back.
function find(value: unknown, depth: number): string | undefined {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const field: unknown = value[i];
      if (field === null || field === undefined) continue;
      // An index is neither a token nor a seconds field: only what it holds is checked.
      const problem = find(field, depth + 1);
      if (problem) return `[${i}]${problem}`;
    }
    return undefined;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const field: unknown = (value as Record<string, unknown>)[key];
    if (field === null || field === undefined) continue;
    const problem = fieldProblem(key, field) ?? find(field, depth + 1);
    if (problem) return `.${key}${problem}`;
  }
  return undefined;
}

/**
 * The first token-count field of a provider's `usage` object (nested details included, any
 * shape) that is not a whole number from 0 (negative, fractional, beyond 2^53, a string, a
 * boolean, an object), or duration in seconds that is not a number from 0 to
 * {@link MAX_AUDIO_SECONDS}. Undefined when every one is sound (absent and `null` fields are).
 *
 * @returns e.g. `usage.completion_tokens is 1e+308, not a token count (a whole number from 0)`.
 */
export function usageFieldProblem(usage: Record<string, unknown>): string | undefined {
  const problem = find(usage, 0);
  return problem && `usage${problem}`;
}

function choices(body: unknown): number {
  const n = (body as { n?: unknown } | null)?.n;
  return typeof n === 'number' && Number.isFinite(n) && n >= 1 ? Math.min(Math.floor(n), MAX_CHOICES) : 1;
}

/**
 * What one call can have used: input up to {@link MAX_INPUT_TOKENS}; output up to the model's
 * context window from the price table (or {@link MAX_OUTPUT_TOKENS} when it is unknown) for each
 * of its `n` choices (at most {@link MAX_CHOICES}).
 */
export function usageLimits(model: string | undefined, requestBody: unknown, pricer: Pricer, providerHint?: string): UsageLimits {
  const window = model === undefined ? undefined : pricer.contextWindow(model, providerHint);
  return { inputTokens: MAX_INPUT_TOKENS, outputTokens: (window ?? MAX_OUTPUT_TOKENS) * choices(requestBody) };
}

/** Why `used` cannot be what the call used (counts beyond `limits`), or undefined. */
export function usageBeyondLimits(used: MeteredUsage, limits: UsageLimits): string | undefined {
  if (used.inputTokens > limits.inputTokens) return `${used.inputTokens} input tokens, more than a call can read (${limits.inputTokens})`;
  if (used.outputTokens > limits.outputTokens) return `${used.outputTokens} output tokens, more than the model can write in this call (${limits.outputTokens})`;
  return undefined;
}
