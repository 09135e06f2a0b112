/**
 * Metering the event streams of the providers' own APIs: Anthropic Messages (`message_start`,
 * `content_block_delta`, `message_delta`, `message_stop`) and Gemini `streamGenerateContent`
 * (`?alt=sse`: each event a whole `GenerateContentResponse`). Each reader takes one parsed event,
 * hands its delivered text on, and keeps the usage the stream has reported so far.
 */
import { usageFromJson, type MeteredUsage } from './usage.js';

type Obj = Record<string, unknown>;

/** What a native stream reader keeps: usage so far, the model that answered, whether it ended. */
export interface NativeStreamReader {
  /** Reads one event; false when the event is not this dialect's. */
  read(event: Obj, deliver: (text: string) => void): boolean;
  /** Usage reported so far (output left at 0 until the provider has counted it). */
  reported(): MeteredUsage | undefined;
  model(): string | undefined;
  /**
   * True once the stream began in this dialect and has not reached its end event: a stream cut
   * there was cut off (Anthropic's ends with `message_stop`).
   */
  cutOff(): boolean;
}

const record = (value: unknown): Obj | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : undefined);

const ANTHROPIC_EVENTS = new Set(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop', 'ping']);
// Text a content block streams: answers, tool-call arguments, and thinking (billed as output).
const ANTHROPIC_DELTA_TEXT: Record<string, string> = { text_delta: 'text', input_json_delta: 'partial_json', thinking_delta: 'thinking' };

/**
 * Anthropic Messages: input and cache tokens come in `message_start.message.usage`, the output
 * count (cumulative) in each `message_delta.usage`, which may also restate the input counts. The
 * output count of `message_start` is a placeholder, so output stays unknown (0, to be estimated
 * from the delivered text) until a `message_delta` counts it.
 */
export function anthropicStreamReader(): NativeStreamReader {
  let usage: Obj | undefined;
  let model: string | undefined;
  let started = false;
  let stopped = false;
  return {
    read(event, deliver) {
      const type = String(event.type);
      if (!ANTHROPIC_EVENTS.has(type)) return false;
      if (type === 'message_start') {
        started = true;
        const message = record(event.message);
        if (typeof message?.model === 'string') model = message.model;
        usage = { ...record(message?.usage), output_tokens: 0 };
      } else if (type === 'content_block_delta') {
        const delta = record(event.delta);
        const field = ANTHROPIC_DELTA_TEXT[String(delta?.type)];
        if (field && typeof delta?.[field] === 'string') deliver(delta[field]);
      } else if (type === 'message_delta') {
        const given = record(event.usage) ?? {};
        const counted: Obj = {};
        for (const [key, value] of Object.entries(given)) if (typeof value === 'number') counted[key] = value;
        usage = { ...usage, ...counted };
      } else if (type === 'message_stop') {
        stopped = true;
      }
      return true;
    },
    reported: () => (usage ? usageFromJson('/v1/messages', { usage }) : undefined),
    model: () => model,
    cutOff: () => started && !stopped,
  };
}

/** Gemini: each event carries the candidates' new parts and `usageMetadata` as counted so far. */
export function geminiStreamReader(): NativeStreamReader {
  let reported: MeteredUsage | undefined;
  let model: string | undefined;
  return {
    read(event, deliver) {
      if (!Array.isArray(event.candidates) && record(event.usageMetadata) === undefined) return false;
      if (typeof event.modelVersion === 'string') model = event.modelVersion;
      for (const candidate of (event.candidates as unknown[] | undefined) ?? []) {
        const parts = record(record(candidate)?.content)?.parts;
        if (!Array.isArray(parts)) continue;
        for (const part of parts) {
          const p = record(part);
          if (typeof p?.text === 'string') deliver(p.text);
          if (p?.functionCall !== undefined) deliver(JSON.stringify(p.functionCall));
        }
      }
      reported = usageFromJson('', event) ?? reported;
      return true;
    },
    reported: () => reported,
    model: () => model,
    cutOff: () => false,
  };
}
