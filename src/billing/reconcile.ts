import { classify, type BillingPlan } from './classify.js';
import type { BillingLedger } from './types.js';
import { addValues, toUnits } from './value.js';
import { formatUsd } from '../store/money.js';

/** One row where the ledger and what was pushed disagree. */
export interface Difference {
  /** The ledger row's id. */
  id: string;
  customer: string;
  /**
   * `not pushed yet` (after the cursor: the next push sends it), `held: <reason>` (unpriced model,
   * no customer…), `missing` (before the cursor, yet never pushed or held), `value differs`
   * (pushed with another value: the markup or --value changed since), `customer differs`,
   * `not in ledger` (pushed, and the row is gone from the ledger).
   */
  kind: string;
  /** What the ledger says now (null when the row is not billable or gone). */
  ledger: string | null;
  /** What was pushed (null when nothing was). */
  pushed: string | null;
  time: number;
}

/** One customer's totals. */
export interface CustomerReconciliation {
  customer: string;
  /** Sum of the ledger's billable values (USD with markup, or tokens), exact decimal. */
  ledger: string;
  /** Sum of what the destination accepted. */
  pushed: string;
  /** ledger − pushed. */
  difference: string;
  rows: number;
  pushedRows: number;
}

export interface Reconciliation {
  destination: string;
  from: number;
  to: number;
  /** Where the destination's cursor is: rows after it are not pushed yet. */
  cursor: number;
  customers: CustomerReconciliation[];
  total: Omit<CustomerReconciliation, 'customer'>;
  differences: Difference[];
}

/**
 * Sets the ledger's calls in [from, to) against what `destination` accepted, per customer, and
 * lists every row where they differ.
 */
export async function reconcile(ledger: BillingLedger, destination: string, plan: BillingPlan, from: number, to: number): Promise<Reconciliation> {
  const [rows, pushed, held, cursor] = await Promise.all([
    ledger.rowsBetween(from, to),
    ledger.pushed(destination, from, to),
    ledger.held(destination, from, to),
    ledger.cursor(destination),
  ]);
  const { events, held: heldNow } = classify(rows, plan);
  const pushedById = new Map(pushed.map((p) => [p.id, p]));
  const heldById = new Map([...heldNow, ...held].map((h) => [h.id, h]));
  const storedHeld = new Map(held.map((h) => [h.id, h]));
  const positionOf = new Map(rows.map((r) => [r.id, r.position]));
  const rowOf = new Map(rows.map((r) => [r.id, r.row]));
  /** Who a held row would be billed to: the field value that has no customer, else its customer. */
  const heldCustomer = (id: string, reason: string, detail: string) =>
    reason === 'no customer' ? detail : (plan.customers.customerOf(rowOf.get(id)?.fields[plan.customers.field]) ?? '(none)');
  const eventIds = new Set(events.map((e) => e.id));
  const differences: Difference[] = [];
  const sums = new Map<string, { ledger: string[]; pushed: string[]; rows: number; pushedRows: number }>();
  const sumOf = (customer: string) => {
    let s = sums.get(customer);
    if (!s) sums.set(customer, (s = { ledger: [], pushed: [], rows: 0, pushedRows: 0 }));
    return s;
  };
  for (const e of events) {
    const s = sumOf(e.customer);
    s.ledger.push(e.value);
    s.rows += 1;
    const p = pushedById.get(e.id);
    const h = storedHeld.get(e.id);
    if (!p) {
      const kind = h ? `held: ${h.reason}` : positionOf.get(e.id)! > cursor ? 'not pushed yet' : 'missing';
      differences.push({ id: e.id, customer: e.customer, kind, ledger: e.value, pushed: null, time: e.time });
    } else if (p.customer !== e.customer) {
      differences.push({ id: e.id, customer: e.customer, kind: `customer differs (pushed to ${p.customer})`, ledger: e.value, pushed: p.value, time: e.time });
    } else if (toUnits(p.value) !== toUnits(e.value)) {
      differences.push({ id: e.id, customer: e.customer, kind: 'value differs', ledger: e.value, pushed: p.value, time: e.time });
    }
  }
  for (const h of heldById.values()) {
    if (eventIds.has(h.id) || !positionOf.has(h.id)) continue;
    differences.push({ id: h.id, customer: heldCustomer(h.id, h.reason, h.detail), kind: `held: ${h.reason} (${h.detail})`, ledger: null, pushed: null, time: h.time });
  }
  for (const p of pushed) {
    const s = sumOf(p.customer);
    s.pushed.push(p.value);
    s.pushedRows += 1;
    if (!positionOf.has(p.id)) differences.push({ id: p.id, customer: p.customer, kind: 'not in ledger', ledger: null, pushed: p.value, time: p.time });
  }
  const customers = [...sums.entries()]
    .map(([customer, s]) => {
      const l = addValues(s.ledger);
      const p = addValues(s.pushed);
      return { customer, ledger: l, pushed: p, difference: formatUsd(toUnits(l) - toUnits(p)), rows: s.rows, pushedRows: s.pushedRows };
    })
    .sort((a, b) => a.customer.localeCompare(b.customer));
  const total = {
    ledger: addValues(customers.map((c) => c.ledger)),
    pushed: addValues(customers.map((c) => c.pushed)),
    difference: addValues(customers.map((c) => c.difference)),
    rows: customers.reduce((n, c) => n + c.rows, 0),
    pushedRows: customers.reduce((n, c) => n + c.pushedRows, 0),
  };
  differences.sort((a, b) => a.time - b.time || a.id.localeCompare(b.id));
  return { destination, from, to, cursor, customers, total, differences };
}
