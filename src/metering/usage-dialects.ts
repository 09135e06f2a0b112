/**
 * The usage dialects providers answer in, one table. Each reads a provider's usage object into
 * tokens in one meaning: `input` counts every prompt token (cache reads and writes, audio and
 * images included) and the other input counts are parts of it; `output` counts every generated
 * token (reasoning, audio and images included) and the other output counts are parts of it.
 * docs/metering.md shows the table with each field.
 */

type Obj = Record<string, unknown>;

/** Token counts of one answer, in the table's one meaning. */
export interface DialectUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
  /** Audio input tokens, and the part of them read from the cache. */
  inputAudio: number;
  cacheAudioRead: number;
  /** Image input tokens, and the part of them read from the cache. */
  inputImage: number;
  cacheImageRead: number;
  outputAudio: number;
  outputImage: number;
  /** Seconds of audio billed by duration (transcription with `usage.type: "duration"`). */
  audioSeconds: number;
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
/** A count inside the first of `keys` that holds an object with it (providers spell the details object two ways). */
const detail = (usage: Obj, keys: readonly string[], field: string) => {
  for (const key of keys) {
    const value = count(record(usage[key])?.[field]);
    if (value !== undefined) return value;
  }
  return 0;
};

const NONE: DialectUsage = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0, inputAudio: 0, cacheAudioRead: 0, inputImage: 0, cacheImageRead: 0, outputAudio: 0, outputImage: 0, audioSeconds: 0 };
const usage = (parts: Partial<DialectUsage>): DialectUsage => ({ ...NONE, ...parts });

const CHAT_IN = ['prompt_tokens_details'] as const;
const CHAT_OUT = ['completion_tokens_details'] as const;
// The Responses API writes `input_tokens_details`; Realtime and transcription `input_token_details`.
const RESPONSES_IN = ['input_tokens_details', 'input_token_details'] as const;
const RESPONSES_OUT = ['output_tokens_details', 'output_token_details'] as const;

/**
 * Whether reasoning tokens are reported on top of the completion (xAI: `total_tokens` = prompt +
 * completion + reasoning) rather than inside it (OpenAI). Decided from the numbers: the total
 * says which sum it is; without a total, reasoning larger than the completion cannot be inside it.
 */
export function reasoningOnTop(prompt: number, completion: number, reasoning: number, total: number | undefined): boolean {
  if (reasoning <= 0) return false;
  if (total !== undefined) return total === prompt + completion + reasoning && total !== prompt + completion;
  return reasoning > completion;
}

/** The chat family: prompt/completion counts with their details objects, reasoning inside or on top. */
function readChat(u: Obj, cacheRead: number, cacheWrite: number): DialectUsage {
  const prompt = n(u.prompt_tokens);
  const completion = n(u.completion_tokens);
  const reasoning = detail(u, CHAT_OUT, 'reasoning_tokens') || n(u.reasoning_tokens);
  const output = completion + (reasoningOnTop(prompt, completion, reasoning, count(u.total_tokens)) ? reasoning : 0);
  return usage({
    input: prompt,
    output,
    cacheRead,
    cacheWrite,
    reasoning,
    inputAudio: detail(u, CHAT_IN, 'audio_tokens'),
    inputImage: detail(u, CHAT_IN, 'image_tokens'),
    outputAudio: detail(u, CHAT_OUT, 'audio_tokens'),
    outputImage: detail(u, CHAT_OUT, 'image_tokens'),
  });
}

/** A count per modality in Gemini's `[{ modality, tokenCount }]` lists. */
function modality(list: unknown, ...names: string[]): number {
  if (!Array.isArray(list)) return 0;
  let sum = 0;
  for (const item of list) if (names.includes(String(record(item)?.modality))) sum += n(record(item)?.tokenCount);
  return sum;
}

export const USAGE_DIALECTS: readonly UsageDialect[] = [
  {
    name: 'deepseek',
    source: 'DeepSeek chat completions: prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens (api-docs.deepseek.com, context caching)',
    matches: (u) => has(u, 'prompt_cache_hit_tokens') || has(u, 'prompt_cache_miss_tokens'),
    read: (u) => {
      const hit = n(u.prompt_cache_hit_tokens);
      return readChat({ ...u, prompt_tokens: count(u.prompt_tokens) ?? hit + n(u.prompt_cache_miss_tokens) }, hit, 0);
    },
  },
  {
    name: 'anthropic-openai-compatible',
    source:
      "Anthropic's OpenAI SDK compatibility (chat completions shape): prompt_tokens with the cache counted in it, as cached_tokens, or as cache_read_input_tokens / cache_creation_input_tokens",
    matches: (u) => has(u, 'prompt_tokens') && (has(u, 'cache_read_input_tokens') || has(u, 'cache_creation_input_tokens') || has(u, 'cached_tokens')),
    read: (u) => readChat(u, n(u.cache_read_input_tokens) || n(u.cached_tokens) || detail(u, CHAT_IN, 'cached_tokens'), n(u.cache_creation_input_tokens)),
  },
  {
    name: 'openai-chat',
    source:
      'OpenAI chat completions, legacy completions and embeddings: prompt_tokens, prompt_tokens_details.{cached_tokens, audio_tokens} (and cache_write_tokens, as OpenRouter sends), completion_tokens_details.{reasoning_tokens, audio_tokens}; Mistral, Groq, Together, Fireworks, OpenRouter answer the same; xAI reports reasoning_tokens on top of completion_tokens (total_tokens says so) and cached_prompt_text_tokens',
    matches: (u) => has(u, 'prompt_tokens') || has(u, 'completion_tokens'),
    read: (u) => readChat(u, detail(u, CHAT_IN, 'cached_tokens') || n(u.cached_prompt_text_tokens), detail(u, CHAT_IN, 'cache_write_tokens')),
  },
  {
    name: 'anthropic-messages',
    source:
      'Anthropic Messages API (POST /v1/messages): input_tokens excludes cache_read_input_tokens and cache_creation_input_tokens, which are added; in a stream, message_start.message.usage then message_delta.usage',
    matches: (u) => has(u, 'input_tokens') && (has(u, 'cache_read_input_tokens') || has(u, 'cache_creation_input_tokens')),
    read: (u) => {
      const read = n(u.cache_read_input_tokens);
      const write = n(u.cache_creation_input_tokens);
      return usage({ input: n(u.input_tokens) + read + write, output: n(u.output_tokens), cacheRead: read, cacheWrite: write });
    },
  },
  {
    name: 'openai-responses',
    source:
      'OpenAI Responses API, Realtime, images (gpt-image-1) and transcription: input_tokens with input_tokens_details / input_token_details.{cached_tokens, audio_tokens, image_tokens, cached_tokens_details}, output_tokens with output_tokens_details / output_token_details.{reasoning_tokens, audio_tokens, image_tokens}',
    matches: (u) => has(u, 'input_tokens') || has(u, 'output_tokens'),
    read: (u) => {
      const cached = RESPONSES_IN.map((key) => record(record(u[key])?.cached_tokens_details)).find((d) => d !== undefined) ?? {};
      const cachedDetails = (field: string) => n(cached[field]);
      return usage({
        input: n(u.input_tokens),
        output: n(u.output_tokens),
        cacheRead: detail(u, RESPONSES_IN, 'cached_tokens'),
        cacheWrite: detail(u, RESPONSES_IN, 'cache_write_tokens'),
        reasoning: detail(u, RESPONSES_OUT, 'reasoning_tokens'),
        inputAudio: detail(u, RESPONSES_IN, 'audio_tokens'),
        cacheAudioRead: cachedDetails('audio_tokens'),
        inputImage: detail(u, RESPONSES_IN, 'image_tokens'),
        cacheImageRead: cachedDetails('image_tokens'),
        outputAudio: detail(u, RESPONSES_OUT, 'audio_tokens'),
        outputImage: detail(u, RESPONSES_OUT, 'image_tokens'),
      });
    },
  },
  {
    name: 'gemini',
    source:
      'Google Gemini generateContent / streamGenerateContent usageMetadata: promptTokenCount (cachedContentTokenCount part of it, toolUsePromptTokenCount added), candidatesTokenCount plus thoughtsTokenCount, per-modality details (ai.google.dev/api/generate-content#UsageMetadata)',
    matches: (u) => has(u, 'promptTokenCount') || has(u, 'candidatesTokenCount') || has(u, 'totalTokenCount'),
    read: (u) => {
      const thoughts = n(u.thoughtsTokenCount);
      return usage({
        input: n(u.promptTokenCount) + n(u.toolUsePromptTokenCount),
        output: n(u.candidatesTokenCount) + thoughts,
        cacheRead: n(u.cachedContentTokenCount),
        reasoning: thoughts,
        inputAudio: modality(u.promptTokensDetails, 'AUDIO') + modality(u.toolUsePromptTokensDetails, 'AUDIO'),
        cacheAudioRead: modality(u.cacheTokensDetails, 'AUDIO'),
        // genai-prices prices Gemini's DOCUMENT tokens as image tokens.
        inputImage: modality(u.promptTokensDetails, 'IMAGE', 'DOCUMENT') + modality(u.toolUsePromptTokensDetails, 'IMAGE', 'DOCUMENT'),
        cacheImageRead: modality(u.cacheTokensDetails, 'IMAGE', 'DOCUMENT'),
        outputAudio: modality(u.candidatesTokensDetails, 'AUDIO'),
        outputImage: modality(u.candidatesTokensDetails, 'IMAGE', 'DOCUMENT'),
      });
    },
  },
  {
    name: 'audio-duration',
    source: 'OpenAI audio transcription billed by duration (whisper-1): usage { type: "duration", seconds }',
    matches: (u) => u.type === 'duration' && has(u, 'seconds'),
    read: (u) => usage({ audioSeconds: n(u.seconds) }),
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
