/**
 * The storage contract behind the policy engine: counters with leased reservations, and the
 * usage ledger. Memory, SQLite and (later) Redis stores implement it; the engine knows nothing else.
 */

/** What a limit counts. */
export type Metric = 'requests' | 'tokens' | 'cost' | 'concurrent';

/** The window a counter covers; `total` never resets. */
export type WindowName = 'minute' | 'hour' | 'day' | 'month' | 'year' | 'total';

/** One limit to check and reserve against, already resolved to a concrete counter. */
export interface CounterCheck {
  /** Counter identity, e.g. `'rule-id|cost|month|user=alice'` (built by the engine). */
  key: string;
  metric: Metric;
  /** Window start, ms since epoch (0 for `total`). */
  bucket: number;
  /** Window end in ms (null for `total`): the counter may be dropped after it. */
  expiresAt: number | null;
  /** Admit while current (used + live reservations) < max. Cost in USD (stores keep 1e-10 USD units). */
  max: number;
  /** What this call reserves (1 for requests/concurrent; an estimate for tokens/cost). */
  amount: number;
}

/**
 * The outcome of {@link TokenlayStore.reserve}. On refusal, `index` points into the checks at the
 * first one exceeded and `current = used + reserved` is its state at that moment.
 */
export type ReserveResult =
  | { ok: true; id: string }
  | { ok: false; index: number; current: number; used: number; reserved: number };

/** Usage a call actually incurred, applied by {@link TokenlayStore.settle}. */
export interface Actual {
  requests: number;
  tokens: number;
  cost: number;
}

/** One metered call in the usage ledger. Never holds prompts, responses or keys. */
export interface LedgerRow {
  /** ms since epoch. */
  time: number;
  /** Attribution fields (canonical names). */
  fields: Record<string, string>;
  modelRequested: string | null;
  modelUsed: string | null;
  endpoint: string;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /**
   * USD, on the 1e-10 USD grid: stores keep it as whole cost units (see `store/money.ts`), so a
   * row read back never carries float noise.
   */
  cost: number;
  ruleId: string | null;
  action: string | null;
  status: number;
  latencyMs: number;
  /** True when tokens were estimated because the provider reported none. */
  estimated: boolean;
  /**
   * Why the usage is an estimate, when `estimated`: e.g. {@link HOLDER_LOST}. Null or absent
   * otherwise (ledger column `estimate_reason`).
   */
  estimateReason?: string | null;
}

/**
 * The `estimateReason` of a call whose instance died (or stopped renewing) while the call was in
 * flight: its reservation was charged at the amounts reserved when its lease ran out.
 */
export const HOLDER_LOST = 'holder lost';

/** What {@link CounterStore.reserve} takes besides the checks. */
export interface ReserveOptions {
  /** The caller's clock, ms since epoch. */
  now: number;
  /** The lease: the reservation counts until `now + leaseMs` unless renewed. */
  leaseMs: number;
  /**
   * The ledger row to write if the holder is lost: when the lease runs out unsettled, the first
   * instance to notice charges every counter the amount reserved on it and records this row
   * (give it `estimated: true` and `estimateReason: HOLDER_LOST`), atomically and once. Without it
   * a lost reservation is still charged, with no row.
   */
  lost?: LedgerRow;
}

/** Filter for {@link TokenlayStore.ledger}. Rows come back oldest first. */
export interface LedgerQuery {
  /** Inclusive lower bound on `time`. */
  since?: number;
  /** Exclusive upper bound on `time`. */
  until?: number;
  /** Every given field must equal the row's field. */
  fields?: Record<string, string>;
  /** At most this many rows (the most recent ones when more match). */
  limit?: number;
}

/**
 * Counters with leased reservations: what admission and settlement need. Memory and SQLite hold
 * them in-process or in a file; Redis holds them across instances.
 */
export interface CounterStore {
  /**
   * Atomically: if any check has used + live reserved >= max, reserve nothing and report the first;
   * else add `amount` to each as a reservation leased until `now + leaseMs`. Reservations whose
   * lease ran out are charged first (see {@link ReserveOptions.lost}).
   */
  reserve(checks: CounterCheck[], opts: ReserveOptions): Promise<ReserveResult>;
  /**
   * Replace the reservation with actual usage (`requests` += actual.requests, `tokens` += tokens,
   * `cost` += cost; `concurrent` is just released). Idempotent: a second settle of the same id is a
   * no-op. A reservation whose lease ran out was charged at its reserved amounts by whoever
   * noticed it: settling it later is a no-op (the charge stands); an id the store never saw too.
   */
  settle(id: string, actual: Actual): Promise<void>;
  /** Drop a reservation without usage (the call failed before the provider billed anything). */
  release(id: string): Promise<void>;
  /** Extend a lease (long streams). */
  renew(id: string, opts: { now: number; leaseMs: number }): Promise<void>;
  /** Current state of one counter: settled usage and live (unexpired) reservations. */
  read(key: string, metric: Metric, bucket: number, now: number): Promise<{ used: number; reserved: number }>;
  /** Release resources; the store is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * A counter store that charges lost holders but keeps no ledger of its own (Redis): it hands their
 * rows to the ledger it is combined with ({@link combineStores} wires it).
 */
export interface LostRowSource {
  /** Where the rows of lost holders this instance charges are recorded from now on (and those held until now). */
  sendLostRowsTo(ledger: Pick<Ledger, 'record'>): void;
}

/**
 * The usage ledger: one row per metered call, never prompts, responses or keys. Memory and SQLite
 * keep it in-process or in a file; Postgres keeps it for many instances.
 */
export interface Ledger {
  /**
   * Queue a ledger row (batched writes). `callId` is the call's id (its reservation id), when it
   * held one: a ledger that keys rows by call (PostgreSQL) keeps one row per id, so a call charged
   * as lost and then settled late by its holder is never recorded twice.
   */
  record(row: LedgerRow, callId?: string): void;
  /** Read ledger rows, oldest first; queued rows are flushed first. */
  ledger(query?: LedgerQuery): Promise<LedgerRow[]>;
  /** Write queued ledger rows now. */
  flush(): Promise<void>;
  /** Flush and release resources; the ledger is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * Counters and the ledger behind one object: what `createStore` returns and the engine takes.
 * A store that holds both in one place may also offer `settleWithRow`, which the engine then
 * uses so that a crash never leaves counters and ledger apart.
 */
export type TokenlayStore = CounterStore & Ledger & Partial<AtomicSettlement>;

/** One counter as it stands: what {@link CounterStore.read} gives, with the counter it is. */
export interface CounterReading {
  key: string;
  metric: Metric;
  bucket: number;
  /** Settled usage (USD for cost). */
  used: number;
  /** Live reservations (USD for cost). */
  reserved: number;
}

/** Settling a call and recording its ledger row in one transaction. */
export interface AtomicSettlement {
  /**
   * `settle(id, actual)` (or, with `actual` null, `release(id)`) and `record(row)`, committed
   * together: after a crash both happened or neither did. When the reservation was already charged
   * as lost (its lease ran out), neither happens: the lost call's row and charge stand, once.
   *
   * With `now` (the caller's clock, ms), it resolves with every counter the reservation held as
   * `read(key, metric, bucket, now)` would give it just after the settlement (lost holders charged
   * first), read in the same step, so that the caller need not read them again. Without `now`, or
   * when nothing was settled (an id charged as lost, or never seen), it resolves with undefined
   * (a store of an earlier contract, resolving with nothing, is read again by the engine instead).
   */
  settleWithRow(id: string, actual: Actual | null, row: LedgerRow, now?: number): Promise<CounterReading[] | undefined | void>;
}
