import { boundTextTokens, countTextTokens } from './tokenizer.js';
import type { MeteredUsage } from './metered-usage.js';

/**
 * Tokens charged for an image part when the request does not say otherwise: OpenAI's high-detail
 * price of one 512 px tile plus the base (170 + 85), a middle guess between a small and a 2k image.
 */
export const IMAGE_TOKENS = 255;
/** Tokens of an image part sent with `detail: "low"`. */
export const LOW_DETAIL_IMAGE_TOKENS = 85;
// OpenAI's chat format adds about 3 tokens per message and 3 to prime the reply.
const PER_MESSAGE_TOKENS = 3;
const REPLY_PRIMING_TOKENS = 3;
// Keys under which a request carries text the model reads. Anything else (ids, base64 audio and
// files, URLs) is skipped: counting base64 as text would inflate the estimate wildly.
const TEXT_KEYS = ['content', 'text', 'name', 'arguments', 'output', 'refusal', 'tool_calls', 'function', 'input', 'summary'];

interface Collected {
  text: string[];
  extraTokens: number;
}

function isImagePart(part: Record<string, unknown>): boolean {
  return part.type === 'image_url' || part.type === 'input_image' || part.type === 'image';
}

function imageTokens(part: Record<string, unknown>): number {
  const detail = (part.image_url as { detail?: unknown } | undefined)?.detail ?? part.detail;
  return detail === 'low' ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_TOKENS;
}

function collect(value: unknown, into: Collected, depth = 0): void {
  if (depth > 32) return;
  if (typeof value === 'string') into.text.push(value);
  else if (typeof value === 'number') into.extraTokens += 1; // a token id (embeddings, completions)
  else if (Array.isArray(value)) for (const item of value) collect(item, into, depth + 1);
  else if (typeof value === 'object' && value !== null) {
    const part = value as Record<string, unknown>;
    if (isImagePart(part)) {
      into.extraTokens += imageTokens(part);
      return;
    }
    for (const key of TEXT_KEYS) if (key in part) collect(part[key], into, depth + 1);
  }
}

/**
 * Estimates the input tokens of an OpenAI-style request body: chat `messages` (content parts,
 * tool calls, `tools` and `response_format` definitions included), the Responses API's
 * `instructions` and `input`, and the `input` / `prompt` of embeddings and legacy completions
 * (strings, string arrays or token-id arrays).
 */
export function estimateRequestTokens(model: string | undefined, body: unknown): number {
  if (typeof body !== 'object' || body === null) return 0;
  const request = body as Record<string, unknown>;
  const into: Collected = { text: [], extraTokens: 0 };
  let overhead = 0;
  if (Array.isArray(request.messages)) {
    collect(request.messages, into);
    overhead += request.messages.length * PER_MESSAGE_TOKENS + REPLY_PRIMING_TOKENS;
  }
  if (typeof request.instructions === 'string') into.text.push(request.instructions);
  if (request.input !== undefined) {
    collect(request.input, into);
    if (Array.isArray(request.input) && request.input.some((item) => typeof item === 'object' && item !== null && !Array.isArray(item))) {
      overhead += request.input.length * PER_MESSAGE_TOKENS + REPLY_PRIMING_TOKENS;
    }
  }
  if (request.prompt !== undefined) collect(request.prompt, into);
  // Tool and schema definitions are sent to the model as text; their JSON is a close stand-in.
  for (const key of ['tools', 'functions', 'response_format'] as const) {
    if (request[key] !== undefined) into.text.push(JSON.stringify(request[key]));
  }
  const text = into.text.join('\n');
  return countTextTokens(text, model) + into.extraTokens + overhead;
}

/**
 * The most input tokens an image part can be billed, whatever its size and detail, on OpenAI's
 * vision models as their pricing pages give it: GPT-4o, GPT-4.1, GPT-5 and the o-series bill at
 * most 85 + 8 × 170 = 1,445 tokens (tiles) or 1,536 patches × 2.46 = 3,779 (GPT-4.1-nano), so
 * 4,096 bounds them all. Anthropic's images stay under 1,600 tokens, Gemini's under 4,096 up to
 * 3,000 px a side. Images billed beyond it (larger Gemini tilings) can pass a cap by the difference.
 */
export const IMAGE_TOKENS_BOUND = 4096;
/** gpt-4o-mini bills an image at 33 times the tokens (2,833 + 8 × 5,667), so that its price matches GPT-4o's. */
export const GPT_4O_MINI_IMAGE_TOKENS_BOUND = 48_169;
/**
 * Input tokens reserved for a part that no estimate can bound: a file or audio sent by id or URL,
 * when the model's context window is unknown (when it is known, the window is the bound: no
 * provider bills more input than the model reads).
 */
export const UNBOUNDED_INPUT_TOKENS = 1_048_576;
// OpenAI's chat format adds 3 tokens a message (4 with a name) and 3 to prime the reply; other
// vendors' chat templates add up to 7 (Llama 3's header tokens). 8 bounds them all.
const PER_MESSAGE_BOUND = 8;
// Tool definitions are rendered by the provider in its own syntax, with a preamble; their JSON is
// longer than OpenAI's rendering, and this covers the preamble.
const TOOLS_PREAMBLE_BOUND = 64;
const DEEP = 32;

interface Bounded {
  text: string[];
  tokens: number;
  /** A part whose size no estimate can know (a file by id): the context window is the bound. */
  unbounded: boolean;
}

const base64Bytes = (data: unknown) => (typeof data === 'string' ? Math.ceil((data.length * 3) / 4) : 0);

/** Input tokens of an audio or file part at most: one token per byte of its data, when it carries the data. */
function mediaBound(part: Record<string, unknown>, into: Bounded): boolean {
  const audio = part.type === 'input_audio' ? ((part.input_audio as Record<string, unknown> | undefined) ?? part) : undefined;
  if (audio) {
    if (typeof audio.data === 'string') into.tokens += base64Bytes(audio.data);
    else into.unbounded = true;
    return true;
  }
  if (part.type === 'file' || part.type === 'input_file') {
    const file = (part.file as Record<string, unknown> | undefined) ?? part;
    if (typeof file.file_data === 'string') into.tokens += base64Bytes(file.file_data);
    else into.unbounded = true;
    return true;
  }
  return false;
}

function collectBound(value: unknown, into: Bounded, imageBound: number, depth = 0): void {
  if (typeof value === 'string') into.text.push(value);
  else if (typeof value === 'number') into.tokens += 1; // a token id (embeddings, completions)
  else if (depth > DEEP) into.text.push(JSON.stringify(value) ?? '');
  else if (Array.isArray(value)) for (const item of value) collectBound(item, into, imageBound, depth + 1);
  else if (typeof value === 'object' && value !== null) {
    const part = value as Record<string, unknown>;
    if (isImagePart(part)) into.tokens += imageBound;
    else if (!mediaBound(part, into)) for (const key in part) collectBound(part[key], into, imageBound, depth + 1);
  }
}

/**
 * The most input tokens a request can be billed, for reservations: never below what the provider
 * reports, with or without gpt-tokenizer. Every string in `messages` / `input` / `prompt` /
 * `instructions` (Anthropic's `system`, Gemini's `contents` and `systemInstruction`) counts (see {@link boundTextTokens}), plus 8 tokens a message, tool and schema
 * definitions as JSON plus 64, {@link IMAGE_TOKENS_BOUND} an image, one token per byte of inline
 * audio or file data. A part with no data to measure (a file by id) makes the bound the model's
 * context window, `contextWindow`, or {@link UNBOUNDED_INPUT_TOKENS}; no bound exceeds the window.
 */
export function boundRequestTokens(model: string | undefined, body: unknown, contextWindow?: number): number {
  if (typeof body !== 'object' || body === null) return 0;
  const request = body as Record<string, unknown>;
  const imageBound = /(^|\/)gpt-4o-mini/i.test(model ?? '') ? GPT_4O_MINI_IMAGE_TOKENS_BOUND : IMAGE_TOKENS_BOUND;
  const into: Bounded = { text: [], tokens: 0, unbounded: false };
  // OpenAI's chat, Responses and completions; Anthropic's `system`; Gemini's `contents` and `systemInstruction`.
  for (const key of ['messages', 'input', 'prompt', 'instructions', 'system', 'contents', 'systemInstruction'] as const) {
    const value = request[key];
    if (value === undefined) continue;
    collectBound(value, into, imageBound);
    // A string is one message; the reply's priming is counted once per list.
    into.tokens += (Array.isArray(value) ? value.length + 1 : 1) * PER_MESSAGE_BOUND;
  }
  let tools = false;
  for (const key of ['tools', 'functions', 'response_format', 'text'] as const) {
    if (request[key] === undefined || typeof request[key] === 'string') continue;
    into.text.push(JSON.stringify(request[key]));
    tools = true;
  }
  if (tools) into.tokens += TOOLS_PREAMBLE_BOUND;
  const ceiling = contextWindow ?? UNBOUNDED_INPUT_TOKENS;
  if (into.unbounded) return ceiling;
  return Math.min(ceiling, boundTextTokens(into.text.join('\n'), model) + into.tokens);
}

/** Estimates the tokens of generated text. */
export function estimateOutputTokens(model: string | undefined, text: string): number {
  return countTextTokens(text, model);
}

/** Usage of a call for which the provider reported none, marked `estimated: true`. */
export function estimateUsage(model: string | undefined, requestBody: unknown, outputText: string): MeteredUsage {
  const inputTokens = estimateRequestTokens(model, requestBody);
  const outputTokens = estimateOutputTokens(model, outputText);
  return { inputTokens, outputTokens, cachedTokens: 0, totalTokens: inputTokens + outputTokens, estimated: true };
}
