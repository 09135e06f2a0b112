/** Token usage of one call, as the provider reported it or as estimated. */
export interface MeteredUsage {
  /** Prompt tokens, cached ones included (OpenAI counts them in both). */
  inputTokens: number;
  outputTokens: number;
  /** The part of `inputTokens` served from the provider's prompt cache. */
  cachedTokens: number;
  totalTokens: number;
  /** True when the provider reported no usage and these counts come from the tokenizer. */
  estimated: boolean;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Reads the `usage` object of an OpenAI-style JSON answer: chat completions and legacy completions
 * (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`), the Responses API
 * (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`), and embeddings
 * (`prompt_tokens` only). Both spellings are accepted on every endpoint, since compatible
 * providers mix them; `endpoint` only breaks a tie when an answer carries both.
 *
 * @returns undefined when the body has no usage with token counts.
 */
export function usageFromJson(endpoint: string, body: unknown): MeteredUsage | undefined {
  const usage = record(record(body)?.usage);
  if (!usage) return undefined;
  const chat = {
    input: count(usage.prompt_tokens),
    output: count(usage.completion_tokens),
    cached: count(record(usage.prompt_tokens_details)?.cached_tokens),
  };
  const responses = {
    input: count(usage.input_tokens),
    output: count(usage.output_tokens),
    cached: count(record(usage.input_tokens_details)?.cached_tokens),
  };
  const hasChat = chat.input !== undefined || chat.output !== undefined;
  const hasResponses = responses.input !== undefined || responses.output !== undefined;
  if (!hasChat && !hasResponses) return undefined;
  const picked = hasResponses && (!hasChat || /\bresponses\b/.test(endpoint)) ? responses : chat;
  const inputTokens = picked.input ?? 0;
  const outputTokens = picked.output ?? 0;
  return {
    inputTokens,
    outputTokens,
    cachedTokens: Math.min(picked.cached ?? 0, inputTokens),
    totalTokens: count(usage.total_tokens) ?? inputTokens + outputTokens,
    estimated: false,
  };
}
