import { HOLDER_LOST, type LedgerRow } from '../store/types.js';
import type { Estimate } from './admission.js';
import type { CallState } from './call.js';

/**
 * The status a lost call is recorded with: its instance died (or stopped renewing) before the
 * answer was settled, so the caller got no answer from it, as a proxy in front would say (502).
 */
export const HOLDER_LOST_STATUS = 502;

/**
 * The ledger row a store records if this call's holder is lost: what was reserved, flagged
 * estimated with {@link HOLDER_LOST}. It goes with the reservation, so any instance can write it.
 */
export function holderLostRow(state: CallState, estimate: Estimate): LedgerRow {
  const input = Math.min(estimate.inputTokens ?? 0, estimate.tokens);
  return {
    time: state.startedAt,
    fields: state.fields,
    modelRequested: state.requestedModel ?? null,
    modelUsed: state.model ?? null,
    endpoint: state.endpoint,
    inputTokens: input,
    outputTokens: estimate.tokens - input,
    cachedTokens: 0,
    cost: estimate.cost,
    ruleId: state.rule?.id ?? null,
    action: state.action,
    status: HOLDER_LOST_STATUS,
    latencyMs: 0,
    estimated: true,
    estimateReason: HOLDER_LOST,
  };
}
