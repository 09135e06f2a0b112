import { estimateUsage } from './estimate.js';
import { createEventSplitter, parseEvent } from '../protocol/sse.js';
import { anthropicStreamReader, geminiStreamReader, type NativeStreamReader } from './sse-native.js';
import type { UsageLimits } from './usage-bounds.js';
import { plausibleUsage, usageFromJson, type MeteredUsage } from './usage.js';

/** Usage of a streamed call, with the model the provider said it used (or the one requested). */
export type StreamUsage = MeteredUsage & { model?: string };

/** Options of {@link meterEventStream}. */
export interface MeterEventStreamOptions {
  /** The provider path, e.g. `/v1/chat/completions` or `/v1/responses`. */
  endpoint: string;
  /** The parsed request body, for estimating input tokens when the provider reports no usage. */
  requestBody: unknown;
  /** What the call can have used at most (see `usageLimits`): reported usage beyond it is estimated and flagged. */
  limits?: UsageLimits | undefined;
  /**
   * Drop the usage-only chunk (`usage` set, `choices` empty): set it when the engine added
   * `stream_options.include_usage` although the caller did not ask for usage.
   */
  stripUsageChunk: boolean;
  /**
   * Called once, just before `data: [DONE]` (or at the end of a stream that has none, like the
   * Responses API's); what it returns is written to the stream there. Used for the
   * `: x-tokenlay {json}` trailer. It is completed into a whole event (ending in a blank line).
   */
  beforeDone?: (usage: StreamUsage) => string | undefined;
  /**
   * Called exactly once when the stream ends: `completed` is true when the provider's stream ran to
   * its end, false when the consumer cancelled or the stream failed; `cutOff` is true when the
   * stream stopped before its dialect's end event (Anthropic's `message_stop`), however it
   * stopped. Usage is estimated from what was delivered when the provider sent none.
   */
  onEnd: (usage: StreamUsage, info: { completed: boolean; cutOff: boolean }) => void;
}

// Streamed text fields that become output tokens. Audio deltas are base64, not text.
const TEXT_DELTA_TYPES = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
]);
const FINAL_RESPONSE_TYPES = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/** Completes a trailer into a whole SSE event, so it can never merge with the line that follows. */
function asWholeEvent(text: string): string {
  if (!text.endsWith('\n')) text += '\n';
  return text.endsWith('\n\n') || text.endsWith('\r\n\r\n') ? text : `${text}\n`;
}

/**
 * Passes a server-sent-event stream through unchanged while metering it: usage comes from the
 * final usage chunk (chat: `usage` with empty `choices`; Responses API: `response.usage` of
 * `response.completed`; Anthropic: `message_start` and `message_delta`; Gemini: the last
 * `usageMetadata`), or is estimated from the request and the text delivered. Bytes are
 * forwarded event by event as they arrive; only an unfinished event is held back.
 */
export function meterEventStream(body: ReadableStream<Uint8Array>, opts: MeterEventStreamOptions): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const splitter = createEventSplitter();
  const requestModel = (opts.requestBody as { model?: unknown } | null)?.model;
  let model = typeof requestModel === 'string' ? requestModel : undefined;
  let reported: MeteredUsage | undefined;
  // The provider's own stream dialect, once an event shows which (Anthropic, Gemini).
  const natives = [anthropicStreamReader(), geminiStreamReader()];
  let native: NativeStreamReader | undefined;
  const delivered: string[] = [];
  let trailerWritten = false;
  let ended = false;
  let cancelled = false;

  function usageNow(): StreamUsage {
    if (native) {
      reported = native.reported() ?? reported;
      model = native.model() ?? model;
    }
    const text = delivered.join('');
    const usage = plausibleUsage(reported, text, () => estimateUsage(model, opts.requestBody, text), opts.limits);
    return model === undefined ? usage : { ...usage, model };
  }

  function end(completed: boolean): void {
    if (ended) return;
    ended = true;
    opts.onEnd(usageNow(), { completed, cutOff: native?.cutOff() ?? false });
  }

  function trailer(): string {
    if (trailerWritten || !opts.beforeDone) return '';
    trailerWritten = true;
    const text = opts.beforeDone(usageNow());
    return text ? asWholeEvent(text) : '';
  }

  function readChat(chunk: Record<string, unknown>): boolean {
    const choices = chunk.choices;
    if (Array.isArray(choices)) {
      for (const choice of choices as Array<Record<string, unknown>>) {
        const delta = choice?.delta as Record<string, unknown> | undefined;
        if (typeof choice?.text === 'string') delivered.push(choice.text); // legacy completions
        if (!delta) continue;
        for (const key of ['content', 'refusal', 'reasoning_content'] as const) {
          if (typeof delta[key] === 'string') delivered.push(delta[key]);
        }
        if (Array.isArray(delta.tool_calls)) {
          for (const call of delta.tool_calls as Array<{ function?: { name?: unknown; arguments?: unknown } }>) {
            if (typeof call?.function?.name === 'string') delivered.push(call.function.name);
            if (typeof call?.function?.arguments === 'string') delivered.push(call.function.arguments);
          }
        }
      }
    }
    if (chunk.usage !== undefined && chunk.usage !== null) {
      reported = usageFromJson(opts.endpoint, chunk) ?? reported;
      const usageOnly = Array.isArray(choices) && choices.length === 0;
      if (usageOnly && opts.stripUsageChunk) return false;
    }
    return true;
  }

  function readResponses(event: Record<string, unknown>, type: string): void {
    if (TEXT_DELTA_TYPES.has(type) && typeof event.delta === 'string') delivered.push(event.delta);
    if (FINAL_RESPONSE_TYPES.has(type)) {
      const response = event.response as Record<string, unknown> | undefined;
      if (typeof response?.model === 'string') model = response.model;
      reported = usageFromJson('/v1/responses', response) ?? reported;
    }
  }

  /** What to forward for one raw event: the event itself, the trailer and the event, or nothing. */
  function handle(raw: string): string {
    const { data } = parseEvent(raw);
    if (data === undefined) return raw;
    if (data.trim() === '[DONE]') return trailer() + raw;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return raw;
    }
    if (typeof json !== 'object' || json === null) return raw;
    const event = json as Record<string, unknown>;
    const deliver = (text: string) => void delivered.push(text);
    if (native ? native.read(event, deliver) : (native = natives.find((reader) => reader.read(event, deliver)))) return raw;
    if (typeof event.type === 'string' && event.type.startsWith('response.')) {
      readResponses(event, event.type);
      return raw;
    }
    if (typeof event.model === 'string') model = event.model;
    return readChat(event) ? raw : '';
  }

  function finish(): string {
    let out = splitter.push(decoder.decode()).map(handle).join('');
    const rest = splitter.rest();
    if (rest) {
      out += handle(rest);
      // An unterminated last event must be closed before a trailer line can follow it.
      if (opts.beforeDone && !trailerWritten) out += rest.endsWith('\n') ? '\n' : rest.endsWith('\r') ? '\r\n' : '\n\n';
    }
    return out + trailer();
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (cancelled) return;
            if (done) {
              const out = finish();
              if (out) controller.enqueue(encoder.encode(out));
              end(true);
              controller.close();
              return;
            }
            const out = splitter.push(decoder.decode(value, { stream: true })).map(handle).join('');
            if (out) {
              controller.enqueue(encoder.encode(out));
              return;
            }
          }
        } catch (error) {
          end(false);
          throw error;
        }
      },
      async cancel(reason) {
        cancelled = true;
        end(false);
        await reader.cancel(reason);
      },
    },
    // Read from the provider only when the consumer reads: what was enqueued is what was delivered.
    { highWaterMark: 0 },
  );
}
