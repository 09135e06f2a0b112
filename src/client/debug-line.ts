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

/** @internal The header that carries a call's debug id from the client to its transport; never sent. */
export const DEBUG_HEADER = 'tokenlay-debug-call';

const pending = new Map<string, CallInfo>();
let next = 0;

/** @internal Keeps a call's info until its transport answers; returns the id to send along. */
export function holdCallInfo(info: CallInfo): string {
  const id = String(++next);
  // A call that never reaches the transport (aborted first) must not pin its info for ever.
  if (pending.size > 1000) pending.delete(pending.keys().next().value as string);
  pending.set(id, info);
  return id;
}

/** @internal Takes back the info of a call, removing its id from the headers to send. */
export function takeCallInfo(headers: Headers): CallInfo | undefined {
  const id = headers.get(DEBUG_HEADER);
  if (id === null) return undefined;
  headers.delete(DEBUG_HEADER);
  const info = pending.get(id);
  pending.delete(id);
  return info;
}

/**
 * @internal Logs one line for a call to stderr: mode, model, each field with its source, and the
 * rule, action and status of the answer. Values are attribution ids; keys and prompts never appear.
 */
export function logCall(info: CallInfo, outcome: { status?: number; rule?: string | null; action?: string | null; model?: string | null; error?: unknown }): void {
  const fields = Object.entries(info.fields)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${JSON.stringify(value)} (${info.sources?.[name] ?? 'unknown'})`)
    .join(' ');
  const answer =
    outcome.error !== undefined
      ? `error=${(outcome.error as Error)?.name ?? 'Error'}`
      : `status=${outcome.status} rule=${outcome.rule ? decodeHeaderValue(outcome.rule) : '-'} action=${outcome.action ?? '-'}`;
  // The model that answered (a rule may route or downgrade the call), and the one asked when it differs.
  const used = outcome.model ? decodeHeaderValue(outcome.model) : undefined;
  const model = used === undefined || used === info.model ? (info.model ?? '-') : info.model === undefined ? used : `${used} (asked ${info.model})`;
  console.error(`tokenlay: call mode=${info.mode} model=${model} ${fields || 'fields=none'} ${answer}`);
}
