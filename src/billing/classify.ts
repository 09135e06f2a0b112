import type { Pricer } from '../metering/prices.js';
import { pricerOf } from './rules-pricer.js';
import type { RulesDocument } from '../policy/types.js';
import { isBlocked } from '../store/usage-breakdown.js';
import type { CustomerMapping } from './customers.js';
import type { BillableRow, HeldRow, UsageEvent } from './types.js';
import { valueOf, type ValueKind } from './value.js';

/** What to bill and how: see {@link classify}. */
export interface BillingPlan {
  value: ValueKind;
  customers: CustomerMapping;
  /** `plans.<plan>.markup` of the rules file, by plan. */
  markups: Record<string, number>;
  /** Prices the rules file sets (they decide whether a model is priced). */
  pricer: Pricer;
}

/** The markups and price overrides a rules file gives billing. */
export function fromRules(rules: RulesDocument | undefined): { markups: Record<string, number>; pricer: Pricer } {
  const markups: Record<string, number> = {};
  for (const [plan, p] of Object.entries(rules?.plans ?? {})) if (p.markup !== undefined) markups[plan] = p.markup;
  return { markups, pricer: pricerOf(rules) };
}

/** Held-back reasons. */
export const UNPRICED = 'unpriced model';
export const NO_CUSTOMER = 'no customer';

/**
 * Sorts rows into events to send, rows held back (listed, never sent), and rows with nothing to
 * bill (refused by a rule: never reached a provider). A cancelled or failed call that used tokens is
 * billed like any other. With `value: cost`, a row that used tokens on a model with no price (it
 * cost $0 for want of a price) is held back: billing it $0 would hide it.
 */
export function classify(rows: BillableRow[], plan: BillingPlan): { events: UsageEvent[]; held: HeldRow[] } {
  const events: UsageEvent[] = [];
  const held: HeldRow[] = [];
  for (const b of rows) {
    const { row } = b;
    const tokens = row.inputTokens + row.outputTokens;
    if (isBlocked(row) || (tokens === 0 && row.cost === 0)) continue;
    const model = row.modelUsed ?? row.modelRequested ?? '';
    let billed = row;
    if (plan.value === 'cost' && row.cost === 0) {
      if (!plan.pricer.price(model, { inputTokens: 1_000_000, outputTokens: 1_000_000, cachedTokens: 0 }).priced) {
        held.push({ id: b.id, position: b.position, reason: UNPRICED, detail: model || '(no model)', time: row.time });
        continue;
      }
      // Tokens at $0 on a model that has a price now (given in the rules file's prices: since the
      // call): billed at that price, not at the $0 the ledger recorded for want of one.
      if (tokens > 0) billed = { ...row, cost: plan.pricer.price(model, { inputTokens: row.inputTokens, outputTokens: row.outputTokens, cachedTokens: row.cachedTokens }).cost };
    }
    const fieldValue = row.fields[plan.customers.field];
    const customer = plan.customers.customerOf(fieldValue);
    if (customer === undefined) {
      held.push({ id: b.id, position: b.position, reason: NO_CUSTOMER, detail: `${plan.customers.field}=${fieldValue ?? '(none)'}`, time: row.time });
      continue;
    }
    events.push({ id: b.id, customer, value: valueOf(billed, plan.value, plan.markups), time: row.time, row: billed });
  }
  return { events, held };
}
