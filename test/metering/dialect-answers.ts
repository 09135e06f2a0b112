/**
 * Answers in each provider's own documented shape, JSON and event stream, built from one usage
 * split, with the usage record genai-prices' calcPrice must be given for the same split: what
 * the coverage and property tests price both ways.
 */
import { meterEventStream, type StreamUsage } from '../../src/metering/sse.js';
import { readAll, streamOf } from './streams.js';

/** One call's tokens: parts of the input (cached, written, audio) and of the output (reasoning, audio). */
export interface Split {
  input: number;
  cached: number;
  cacheWrite: number;
  audio: number;
  output: number;
  reasoning: number;
  outputAudio: number;
}

export type Dialect = 'openai-chat' | 'openai-responses' | 'xai' | 'deepseek' | 'anthropic' | 'gemini';

export interface DialectAnswer {
  endpoint: string;
  json: unknown;
  /** The answer as its provider streams it. */
  sse: string;
  /** What calcPrice is asked for the same tokens. */
  truth: Record<string, number>;
}

/** What each dialect can express: the parts it has no field for are zero. */
export function fit(dialect: Dialect, s: Split): Split {
  const out = { ...s };
  if (dialect !== 'openai-chat' && dialect !== 'openai-responses' && dialect !== 'gemini') out.audio = 0;
  if (dialect !== 'openai-chat') out.outputAudio = 0;
  if (dialect === 'deepseek' || dialect === 'gemini' || dialect === 'xai' || dialect === 'openai-responses') out.cacheWrite = 0;
  if (dialect === 'anthropic') out.reasoning = 0; // thinking is counted inside output_tokens, not apart
  return out;
}

const TEXT = ['Steady ', 'growth ', 'in every ', 'region.'];
const data = (value: unknown, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(value)}\n\n`;

/** The answer of `model` in `dialect` for the split (first fitted to what the dialect can say). */
export function answerIn(dialect: Dialect, model: string, split: Split): DialectAnswer {
  const s = fit(dialect, split);
  const truth: Record<string, number> = {
    input_tokens: s.input,
    cache_read_tokens: s.cached,
    cache_write_tokens: s.cacheWrite,
    input_audio_tokens: s.audio,
    cache_audio_read_tokens: 0,
    output_tokens: s.output,
    output_audio_tokens: s.outputAudio,
    output_reasoning_tokens: s.reasoning,
  };
  switch (dialect) {
    case 'openai-chat':
    case 'xai': {
      // xAI reports reasoning on top of completion_tokens, and total_tokens says so.
      const completion = dialect === 'xai' ? s.output - s.reasoning : s.output;
      const usage = {
        prompt_tokens: s.input,
        completion_tokens: completion,
        total_tokens: s.input + s.output,
        prompt_tokens_details: { cached_tokens: s.cached, audio_tokens: s.audio, ...(s.cacheWrite ? { cache_write_tokens: s.cacheWrite } : {}) },
        completion_tokens_details: { reasoning_tokens: s.reasoning, audio_tokens: s.outputAudio },
      };
      const chunk = (over: object) => data({ id: 'c1', object: 'chat.completion.chunk', created: 0, model, ...over });
      return {
        endpoint: '/v1/chat/completions',
        json: { id: 'c1', object: 'chat.completion', created: 0, model, choices: [{ index: 0, message: { role: 'assistant', content: TEXT.join('') }, finish_reason: 'stop' }], usage },
        sse: TEXT.map((t) => chunk({ choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })).join('') + chunk({ choices: [], usage }) + 'data: [DONE]\n\n',
        truth,
      };
    }
    case 'openai-responses': {
      const usage = {
        input_tokens: s.input,
        input_tokens_details: { cached_tokens: s.cached, audio_tokens: s.audio },
        output_tokens: s.output,
        output_tokens_details: { reasoning_tokens: s.reasoning },
        total_tokens: s.input + s.output,
      };
      const response = { id: 'resp_1', object: 'response', model, status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text: TEXT.join('') }] }], usage };
      return {
        endpoint: '/v1/responses',
        json: response,
        sse: TEXT.map((t) => data({ type: 'response.output_text.delta', delta: t }, 'response.output_text.delta')).join('') + data({ type: 'response.completed', response }, 'response.completed'),
        truth,
      };
    }
    case 'deepseek': {
      const usage = {
        prompt_tokens: s.input,
        completion_tokens: s.output,
        total_tokens: s.input + s.output,
        prompt_cache_hit_tokens: s.cached,
        prompt_cache_miss_tokens: s.input - s.cached,
        completion_tokens_details: { reasoning_tokens: s.reasoning },
      };
      const chunk = (over: object) => data({ id: 'c1', object: 'chat.completion.chunk', created: 0, model, ...over });
      return {
        endpoint: '/v1/chat/completions',
        json: { id: 'c1', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: TEXT.join('') } }], usage },
        sse: TEXT.map((t) => chunk({ choices: [{ index: 0, delta: { content: t } }] })).join('') + chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage }) + 'data: [DONE]\n\n',
        truth,
      };
    }
    case 'anthropic': {
      const input = { input_tokens: s.input - s.cached - s.cacheWrite, cache_creation_input_tokens: s.cacheWrite, cache_read_input_tokens: s.cached };
      const message = { id: 'msg_1', type: 'message', role: 'assistant', model, stop_reason: 'end_turn', stop_sequence: null };
      return {
        endpoint: '/v1/messages',
        json: { ...message, content: [{ type: 'text', text: TEXT.join('') }], usage: { ...input, output_tokens: s.output } },
        sse:
          data({ type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { ...input, output_tokens: 1 } } }, 'message_start') +
          data({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start') +
          TEXT.map((t) => data({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }, 'content_block_delta')).join('') +
          data({ type: 'content_block_stop', index: 0 }, 'content_block_stop') +
          data({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: s.output } }, 'message_delta') +
          data({ type: 'message_stop' }, 'message_stop'),
        truth: { ...truth, output_reasoning_tokens: 0 },
      };
    }
    case 'gemini': {
      const usageMetadata = {
        promptTokenCount: s.input,
        cachedContentTokenCount: s.cached,
        candidatesTokenCount: s.output - s.reasoning,
        thoughtsTokenCount: s.reasoning,
        totalTokenCount: s.input + s.output,
        promptTokensDetails: [
          { modality: 'TEXT', tokenCount: s.input - s.audio },
          { modality: 'AUDIO', tokenCount: s.audio },
        ],
      };
      const part = (text: string, usage: object) => ({ candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0 }], modelVersion: model, usageMetadata: usage });
      return {
        endpoint: `/v1beta/models/${model}:generateContent`,
        json: part(TEXT.join(''), usageMetadata),
        sse: TEXT.map((t, i) => data(part(t, i === TEXT.length - 1 ? usageMetadata : { promptTokenCount: s.input, totalTokenCount: s.input }))).join(''),
        truth,
      };
    }
  }
}

/** The usage meterEventStream reads from a whole SSE answer. */
export async function meterSse(answer: DialectAnswer, model: string): Promise<StreamUsage> {
  let ended: StreamUsage | undefined;
  const stream = meterEventStream(streamOf(new TextEncoder().encode(answer.sse)), {
    endpoint: answer.endpoint,
    requestBody: { model },
    stripUsageChunk: false,
    onEnd: (usage) => (ended = usage),
  });
  await readAll(stream);
  if (!ended) throw new Error('the stream ended without being metered');
  return ended;
}
