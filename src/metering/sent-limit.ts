/**
 * Output a call cannot have written: past the output limit it was sent with. A provider that
 * reports more (a stand-in, a proxy that adds, a bug) is not believed beyond it, so that a cap the
 * engine clamped the call to holds whatever the answer says.
 */
import { callerOutputLimit, choicesOf } from './prices.js';
import type { MeteredUsage } from './usage.js';

/** The most output tokens a call sent with `body` can produce (all choices), or undefined when it set no limit. */
export function sentOutputBound(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const request = body as Record<string, unknown>;
  const limit = callerOutputLimit(request);
  if (limit === undefined) return undefined;
  return Math.ceil(limit) * choicesOf(request);
}

/** `used`, with output held to what the call was sent to write at most (then marked `estimated`). */
export function withinSentLimit(used: MeteredUsage, body: unknown): MeteredUsage {
  const most = sentOutputBound(body);
  if (most === undefined || used.outputTokens <= most) return used;
  const reasoningTokens = used.reasoningTokens === undefined ? undefined : Math.min(used.reasoningTokens, most);
  return { ...used, outputTokens: most, totalTokens: used.inputTokens + most, estimated: true, ...(reasoningTokens === undefined ? {} : { reasoningTokens }) };
}
