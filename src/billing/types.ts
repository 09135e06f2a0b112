import type { LedgerRow } from '../store/types.js';

/** A ledger row with the id billing knows it by. */
export interface BillableRow {
  /**
   * The row's id, unique across ledgers: `<ledger id>-<row id>` in a SQLite ledger (the file's own
   * random id, then the row's), the call id in a PostgreSQL ledger. Stripe's `identifier` and the
   * CloudEvents `id`.
   */
  id: string;
  /** Where the row sits in the ledger's order of writes: what a cursor points at. */
  position: number;
  row: LedgerRow;
}

/** One call on its way to a billing system. */
export interface UsageEvent {
  /** The ledger row's id ({@link BillableRow.id}). */
  id: string;
  /** The customer in the billing system (a Stripe customer id, an OpenMeter subject). */
  customer: string;
  /** What is billed: USD with the plan's markup as an exact decimal string, or tokens. */
  value: string;
  /** ms since epoch: the ledger row's time, when the call arrived (Stripe's `timestamp`, the CloudEvents `time`). */
  time: number;
  row: LedgerRow;
}

/** A row the pusher did not send, and why. */
export interface HeldRow {
  id: string;
  position: number;
  /** `unpriced model` (the model has no price, the row costs $0) or `no customer` (no mapping). */
  reason: string;
  /** The model, or the field value that has no customer. */
  detail: string;
  time: number;
}

/** A row a destination accepted. */
export interface PushedRow {
  id: string;
  customer: string;
  value: string;
  time: number;
}

/** Where usage events go: Stripe, a CloudEvents endpoint. */
export interface Destination {
  /** The cursor's name in the store, e.g. `stripe` or `cloudevents https://…`. */
  readonly name: string;
  /**
   * Sends a batch; resolves once the destination accepted every event in it (an event it already
   * had counts as accepted). Throws {@link BillingError} otherwise.
   */
  send(events: UsageEvent[]): Promise<void>;
  /** Why the destination would refuse this event for good (it is then held back), if it would. */
  accepts?(event: UsageEvent): string | undefined;
}

/**
 * The ledger as billing reads it, with a cursor per destination beside it in the same store.
 * SQLite and PostgreSQL implement it.
 */
export interface BillingLedger {
  /** The position of the last row `destination` accepted (0 before the first push). */
  cursor(destination: string): Promise<number>;
  /** Up to `limit` rows written after `position`, in the ledger's order of writes. */
  rowsAfter(position: number, limit: number): Promise<BillableRow[]>;
  /**
   * Records what `destination` accepted and what was held back, and moves its cursor to `to`,
   * in one transaction. A cursor never moves back (two pushers on one destination are safe).
   */
  advance(destination: string, to: number, pushed: PushedRow[], held: HeldRow[]): Promise<void>;
  /** Up to `limit` ledger rows held back for `destination` for one of `reasons`, after position `after`, in position order. */
  heldRows(destination: string, reasons: readonly string[], after: number, limit: number): Promise<BillableRow[]>;
  /**
   * Records that `destination` accepted rows it had held back: they are pushed and no longer held,
   * in one transaction.
   */
  release(destination: string, pushed: PushedRow[]): Promise<void>;
  /** The destinations that have a cursor in this store. */
  destinations(): Promise<string[]>;
  /** Rows `destination` accepted whose call time is in [from, to). */
  pushed(destination: string, from: number, to: number): Promise<PushedRow[]>;
  /** Rows held back for `destination` whose call time is in [from, to). */
  held(destination: string, from: number, to: number): Promise<HeldRow[]>;
  /** Ledger rows whose call time is in [from, to), with their ids. */
  rowsBetween(from: number, to: number): Promise<BillableRow[]>;
  close(): Promise<void>;
}

/** Why a push stopped; `retryable` when waiting and trying again may help (429, network). */
export class BillingError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'BillingError';
  }
}
