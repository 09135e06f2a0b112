import { nodeRequire } from '../node-builtins.js';

/** The byte-pair encodings tokenlay estimates with. */
export type EncodingName = 'o200k_base' | 'cl100k_base';

interface Encoding {
  countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
}

const loaded = new Map<EncodingName, Encoding>();
// Literal specifiers, so bundlers and `npm ls`-style tools can see what is loaded.
const loaders: Record<EncodingName, (require: (id: string) => unknown) => Encoding> = {
  o200k_base: (require) => require('gpt-tokenizer/encoding/o200k_base') as Encoding,
  cl100k_base: (require) => require('gpt-tokenizer/encoding/cl100k_base') as Encoding,
};
/** Characters per token when no tokenizer is installed: OpenAI's rule of thumb for English text. */
export const CHARS_PER_TOKEN = 4;
const byCharacters: Encoding = { countTokens: (text) => Math.ceil(text.length / CHARS_PER_TOKEN) };
let warnedMissing = false;

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && /gpt-tokenizer/.test(String((error as Error).message));
}
// User text may contain "<|endoftext|>"; count it as text instead of throwing.
const TEXT_ONLY = { disallowedSpecial: new Set<string>() };
// Tokenizing costs about 60 µs per KB. Past this many characters, count a prefix and scale: an
// estimate that is a few percent off is fine for a reservation, a 100 ms stall is not.
const EXACT_CHARS = 64 * 1024;

/**
 * The encoding of a model family: o200k for GPT-4o, GPT-4.1, GPT-4.5, GPT-5, the o-series and
 * gpt-oss; cl100k for GPT-3.5, GPT-4 and the text-embedding models; o200k for anything else
 * (other vendors' models included, for which any modern BPE is as close as we can get).
 */
export function encodingForModel(model: string | undefined): EncodingName {
  const name = (model ?? '').toLowerCase().split('/').pop() ?? '';
  if (/^(gpt-4o|gpt-4\.[1-9]|gpt-[5-9]|chatgpt-4o|o[1-9]|gpt-oss|codex|omni-)/.test(name)) return 'o200k_base';
  if (/^(gpt-3\.5|gpt-35|gpt-4|text-embedding-|davinci-002|babbage-002)/.test(name)) return 'cl100k_base';
  return 'o200k_base';
}

// gpt-tokenizer's rank tables are megabytes and take ~150 ms to load: only on first use, and only
// the encoding asked for. gpt-tokenizer is an optional peer (30 MB that remote mode never uses):
// without it, estimates count characters, and say so once.
function load(encoding: EncodingName): Encoding {
  let api = loaded.get(encoding);
  if (!api) {
    try {
      api = loaders[encoding](nodeRequire('estimating tokens', import.meta.url));
    } catch (error) {
      if (!isMissing(error)) throw error;
      api = byCharacters;
      if (!warnedMissing) {
        warnedMissing = true;
        const message = `tokenlay: gpt-tokenizer is not installed, so token estimates (for calls whose answer carries no usage, and for reservations) count ${CHARS_PER_TOKEN} characters a token. Run: npm install gpt-tokenizer@4`;
        const node = (globalThis as { process?: Pick<NodeJS.Process, 'emitWarning'> }).process;
        if (typeof node?.emitWarning === 'function') node.emitWarning(message);
        else console.warn(message);
      }
    }
    loaded.set(encoding, api);
  }
  return api;
}

/** Loads the encoding of `model` now, so the first estimate on a request path does not pay for it. */
export function warmTokenizer(model?: string): void {
  load(encodingForModel(model));
}

/** Whether `model` is one that {@link encodingForModel} names by family (OpenAI's), not by default. */
export function isOpenAiEncoded(model: string | undefined): boolean {
  const name = (model ?? '').toLowerCase().split('/').pop() ?? '';
  return /^(gpt-|chatgpt-4o|o[1-9]|codex|omni-|text-embedding-|davinci-002|babbage-002)/.test(name);
}

/** UTF-8 bytes of `text` (a lone surrogate counts as the 3 bytes of U+FFFD), without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The most tokens `text` can be in `model`'s tokenizer, for reservations: never below the truth.
 * Byte-level BPE (OpenAI's o200k and cl100k, Llama 3, Qwen, Mistral's Tekken, Anthropic's) never
 * makes a token of less than one byte, so the UTF-8 length is an upper bound for any of them.
 * For OpenAI's own models, when gpt-tokenizer is installed, the exact count is used instead
 * (for the first 64 KiB characters; the rest counts its bytes). Other vendors' models always
 * count bytes: their tokenizers can cut the same text finer than o200k does.
 */
export function boundTextTokens(text: string, model: string | undefined): number {
  if (text.length === 0) return 0;
  if (!isOpenAiEncoded(model)) return utf8Length(text);
  const encoding = encodingForModel(model);
  const api = load(encoding);
  if (api === byCharacters) return utf8Length(text);
  if (text.length > EXACT_CHARS) return api.countTokens(text.slice(0, EXACT_CHARS), TEXT_ONLY) + utf8Length(text.slice(EXACT_CHARS));
  return countedBefore(encoding, text) ?? remember(encoding, text, api.countTokens(text, TEXT_ONLY));
}

// The same prompt is sent again and again (a system prompt, a template, a retried call): its
// count is kept, per encoding, keyed by the exact text, so it is the count tokenizing would give.
// Bounded in entries and in characters held per encoding; the oldest entries go first.
const COUNT_CACHE_ENTRIES = 1024;
const COUNT_CACHE_CHARS = 4 * 1024 * 1024;
const counts = new Map<EncodingName, { byText: Map<string, number>; chars: number }>();

function countedBefore(encoding: EncodingName, text: string): number | undefined {
  return counts.get(encoding)?.byText.get(text);
}

function remember(encoding: EncodingName, text: string, tokens: number): number {
  let cache = counts.get(encoding);
  if (!cache) counts.set(encoding, (cache = { byText: new Map(), chars: 0 }));
  cache.byText.set(text, tokens);
  cache.chars += text.length;
  for (const [oldest] of cache.byText) {
    if (cache.byText.size <= COUNT_CACHE_ENTRIES && cache.chars <= COUNT_CACHE_CHARS) break;
    cache.byText.delete(oldest);
    cache.chars -= oldest.length;
  }
  return tokens;
}

/** Counts the tokens of `text` in the encoding of `model`; very long text is counted by sampling. */
export function countTextTokens(text: string, model: string | undefined): number {
  if (text.length === 0) return 0;
  const api = load(encodingForModel(model));
  if (text.length <= EXACT_CHARS) return api.countTokens(text, TEXT_ONLY);
  const prefix = api.countTokens(text.slice(0, EXACT_CHARS), TEXT_ONLY);
  return Math.ceil((prefix * text.length) / EXACT_CHARS);
}
