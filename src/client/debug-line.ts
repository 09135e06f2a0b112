import type { FieldRecord } from '../protocol/fields.js';
import type { FieldSource } from './call-fields.js';
import { decodeHeaderValue } from '../protocol/encoding.js';

/** What the debug line says about one call before it is sent. */
export interface CallInfo {
  mode: 'remote' | 'embedded';
  model: string | undefined;
  fields: FieldRecord;
  sources: Record<string, FieldSource> | undefined;
}

/**
 * @internal Where a call's debug info rides from the client to its transport: a property of the
 * fetch init (TokenlayOpenAI sets it in the SDK's `prepareRequest` hook; the SDK copies the
 * request init, symbols included, into the fetch call). Never a header, so never sent.
 */
export const kCallInfo = Symbol('tokenlay.callInfo');

/** @internal Takes a call's debug info off the fetch init, if the call carries any. */
export function takeCallInfo(init: RequestInit | undefined): CallInfo | undefined {
  const carrier = init as (RequestInit & { [kCallInfo]?: CallInfo }) | undefined;
  const info = carrier?.[kCallInfo];
  if (info) delete carrier![kCallInfo];
  return info;
}

/**
 * @internal Logs one line for a call to stderr: mode, model, each field with its source, and the
 * rule, action and status of the answer. Values are attribution ids; keys and prompts never appear.
 */
export function logCall(
  info: CallInfo,
  outcome: { status?: number; rule?: string | null | undefined; action?: string | null; model?: string | null | undefined; error?: unknown; decoded?: boolean },
): void {
  const decode = (text: string) => (outcome.decoded ? text : decodeHeaderValue(text));
  const fields = Object.entries(info.fields)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${JSON.stringify(value)} (${info.sources?.[name] ?? 'unknown'})`)
    .join(' ');
  const answer =
    outcome.error !== undefined
      ? `error=${(outcome.error as Error)?.name ?? 'Error'}`
      : `status=${outcome.status} rule=${outcome.rule ? decode(outcome.rule) : '-'} action=${outcome.action ?? '-'}`;
  // The model that answered (a rule may route or downgrade the call), and the one asked when it differs.
  const used = outcome.model ? decode(outcome.model) : undefined;
  const model = used === undefined || used === info.model ? (info.model ?? '-') : info.model === undefined ? used : `${used} (asked ${info.model})`;
  console.error(`tokenlay: call mode=${info.mode} model=${model} ${fields || 'fields=none'} ${answer}`);
}
