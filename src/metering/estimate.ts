import { countTextTokens } from './tokenizer.js';
import type { MeteredUsage } from './usage.js';

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
