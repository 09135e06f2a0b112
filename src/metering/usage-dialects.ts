/**
 * The usage dialects providers answer in, one table. Each reads a provider's `usage` object into
 * tokens in one meaning: `input` counts every prompt token (cache reads and writes included),
 * `cacheRead` and `cacheWrite` are parts of it, `reasoning` is part of `output`.
 */

type Obj = Record<string, unknown>;

/** Token counts of one answer, in the table's one meaning. */
export interface DialectUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
}

/** One dialect: how to recognise a provider's usage object and read it. */
export interface UsageDialect {
  name: string;
  /** Who answers in it, and where it is documented. */
  source: string;
  matches(usage: Obj): boolean;
  read(usage: Obj): DialectUsage;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function record(value: unknown): Obj | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : undefined;
}

const n = (value: unknown) => count(value) ?? 0;
const has = (usage: Obj, key: string) => count(usage[key]) !== undefined;
const detail = (usage: Obj, key: string, field: string) => n(record(usage[key])?.[field]);

/** Reasoning tokens in any of the places providers put them. */
const reasoningOf = (usage: Obj) =>
  detail(usage, 'completion_tokens_details', 'reasoning_tokens') || detail(usage, 'output_tokens_details', 'reasoning_tokens') || n(usage.reasoning_tokens);

export const USAGE_DIALECTS: readonly UsageDialect[] = [
  {
    name: 'deepseek',
    source: 'DeepSeek chat completions: prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens (api-docs.deepseek.com, context caching)',
    matches: (u) => has(u, 'prompt_cache_hit_tokens') || has(u, 'prompt_cache_miss_tokens'),
    read: (u) => {
      const hit = n(u.prompt_cache_hit_tokens);
      const miss = n(u.prompt_cache_miss_tokens);
      return { input: count(u.prompt_tokens) ?? hit + miss, output: n(u.completion_tokens), cacheRead: hit, cacheWrite: 0, reasoning: reasoningOf(u) };
    },
  },
  {
    name: 'anthropic-openai-compatible',
    source:
      "Anthropic's OpenAI SDK compatibility (chat completions shape): prompt_tokens with the cache counted in it, as cached_tokens, or as cache_read_input_tokens / cache_creation_input_tokens",
    matches: (u) => has(u, 'prompt_tokens') && (has(u, 'cache_read_input_tokens') || has(u, 'cache_creation_input_tokens') || has(u, 'cached_tokens')),
    read: (u) => ({
      input: n(u.prompt_tokens),
      output: n(u.completion_tokens),
      cacheRead: n(u.cache_read_input_tokens) || n(u.cached_tokens) || detail(u, 'prompt_tokens_details', 'cached_tokens'),
      cacheWrite: n(u.cache_creation_input_tokens),
      reasoning: reasoningOf(u),
    }),
  },
  {
    name: 'openai-chat',
    source:
      'OpenAI chat completions, legacy completions and embeddings: prompt_tokens, prompt_tokens_details.cached_tokens (and cache_write_tokens, as OpenRouter sends), completion_tokens_details.reasoning_tokens; Mistral, Together, OpenRouter answer the same',
    matches: (u) => has(u, 'prompt_tokens') || has(u, 'completion_tokens'),
    read: (u) => ({
      input: n(u.prompt_tokens),
      output: n(u.completion_tokens),
      cacheRead: detail(u, 'prompt_tokens_details', 'cached_tokens'),
      cacheWrite: detail(u, 'prompt_tokens_details', 'cache_write_tokens'),
      reasoning: reasoningOf(u),
    }),
  },
  {
    name: 'anthropic-messages',
    source: 'Anthropic Messages API: input_tokens excludes cache_read_input_tokens and cache_creation_input_tokens, which are added',
    matches: (u) => has(u, 'input_tokens') && (has(u, 'cache_read_input_tokens') || has(u, 'cache_creation_input_tokens')),
    read: (u) => {
      const read = n(u.cache_read_input_tokens);
      const write = n(u.cache_creation_input_tokens);
      return { input: n(u.input_tokens) + read + write, output: n(u.output_tokens), cacheRead: read, cacheWrite: write, reasoning: reasoningOf(u) };
    },
  },
  {
    name: 'openai-responses',
    source: 'OpenAI Responses API: input_tokens, input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens',
    matches: (u) => has(u, 'input_tokens') || has(u, 'output_tokens'),
    read: (u) => ({
      input: n(u.input_tokens),
      output: n(u.output_tokens),
      cacheRead: detail(u, 'input_tokens_details', 'cached_tokens'),
      cacheWrite: detail(u, 'input_tokens_details', 'cache_write_tokens'),
      reasoning: reasoningOf(u),
    }),
  },
];

const RESPONSES_FAMILY = new Set(['anthropic-messages', 'openai-responses']);

/**
 * The dialect of a usage object: the first of {@link USAGE_DIALECTS} that matches. An object that
 * carries both `prompt_tokens` and `input_tokens` (compatible providers mix them) is read in the
 * Responses family on a `/responses` endpoint and in the chat family elsewhere.
 */
export function dialectOf(usage: Obj, endpoint: string): UsageDialect | undefined {
  const matching = USAGE_DIALECTS.filter((d) => d.matches(usage));
  if (matching.length === 0) return undefined;
  const responses = /\bresponses\b/.test(endpoint);
  return matching.find((d) => RESPONSES_FAMILY.has(d.name) === responses) ?? matching[0];
}
