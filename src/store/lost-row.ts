import { HOLDER_LOST, type LedgerRow } from './types.js';

/**
 * The ledger row of a call whose holder was lost, from what the engine gave at admission: flagged
 * estimated with {@link HOLDER_LOST} whatever the template says, since nobody saw the answer.
 */
export function lostRow(template: LedgerRow): LedgerRow {
  return { ...template, fields: { ...template.fields }, estimated: true, estimateReason: template.estimateReason ?? HOLDER_LOST };
}
