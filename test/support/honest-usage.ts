/**
 * Usage as a real provider reports it, for cap tests: the prompt's true o200k count plus OpenAI's
 * chat framing (3 tokens a message, 3 to prime the reply, 1 more as gpt-4o reports "hi"), and an
 * answer as long as `wanted` but never longer than the output limit the call was sent with.
 */
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { Recorded } from './provider.js';

function promptText(body: any): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (k === 'content' || k === 'text') walk(x);
  };
  walk(body?.messages ?? body?.input);
  return out;
}

/** The output limit a provider enforces on the call it received (Infinity when none). */
export function sentOutputLimit(body: any): number {
  const limits = [body?.max_completion_tokens, body?.max_tokens, body?.max_output_tokens].filter((v) => typeof v === 'number');
  return limits.length ? Math.min(...limits) : Infinity;
}

/** Prompt tokens as OpenAI reports them for `body`. */
export function truePromptTokens(body: any): number {
  const texts = promptText(body);
  const messages = Array.isArray(body?.messages) ? body.messages.length : 1;
  return texts.reduce((n, t) => n + countTokens(t), 0) + 3 * messages + 4;
}

/** A `usage` option for the stand-in: true prompt tokens, and `wanted(req)` output tokens cut at the sent limit. */
export function honestUsage(wanted: number | ((r: Recorded) => number)) {
  return (r: Recorded) => ({
    prompt: truePromptTokens(r.body),
    completion: Math.min(typeof wanted === 'number' ? wanted : wanted(r), sentOutputLimit(r.body)),
  });
}
