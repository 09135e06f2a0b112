import type { ModelPrice } from '../metering/index.js';
import type { AlertOptions, Alerts } from '../alerts/notifier.js';
import type { StoreErrorPolicy } from '../store/redis.js';
import type { CounterStore, Ledger, LedgerRow, TokenlayStore } from '../store/types.js';
import type { CallReport } from '../protocol/report.js';

import type { RunBudget } from '../protocol/run-budget.js';
import type { BudgetLimit } from './budget.js';
import type { OverrideStore } from '../store/overrides.js';
import type { EngineCredits } from './credits.js';
import type { EngineLimits } from './limits-api.js';

export type { ModelPrice };

/** Configuration of {@link createEngine}. */
export interface EngineConfig {
  /** Rules in the `@tokenlay/rules` format: a `.json`/`.yaml`/`.yml` path or the document. None: every call is allowed and metered. */
  rules?: string | object;
  /** Custom field names the app sends, declared for the rules (as a top-level `fields:` list would): a rule may use them without "did you mean" refusals. */
  customFields?: readonly string[];
  /**
   * Counters (and the ledger, unless `ledger` is given): `'memory'`, `'sqlite:<path>'`,
   * `'redis://host:6379'` or a store; see `createStore`. Objects passed in are not closed by `engine.close()`.
   */
  store?: string | TokenlayStore | CounterStore;
  /** The usage ledger apart from the counters: `'postgres://…'`, `'sqlite:<path>'`, `'memory'` or a ledger. Default: env `TOKENLAY_LEDGER`, else the store's. */
  ledger?: string | Ledger | TokenlayStore;
  /**
   * While a Redis store is unreachable: `'closed'` (default) answers calls 503
   * `tokenlay_store_unavailable`; `'open'` admits them uncounted. Env `TOKENLAY_ON_STORE_ERROR`.
   */
  onStoreError?: StoreErrorPolicy;
  /** The Postgres ledger's local spool file, one per instance. Default: env `TOKENLAY_LEDGER_SPOOL`, else `./.tokenlay/ledger-<host>-<pid>.spool` (one per process; the spools left in that folder by instances that died are replayed at start). */
  ledgerSpoolPath?: string;
  /** Price overrides by model name; they win over the rules file's `prices:` and the price table. */
  prices?: Record<string, ModelPrice>;
  /** An unpriced model costs 0 with a warning (`zero`, default) or is answered 400 (`refuse`); wins over the rules file. */
  unknownModels?: 'zero' | 'refuse';
  /** The clock (ms since epoch) for windows, leases and the ledger. Default `Date.now`. */
  now?: () => number;
  /**
   * Waits `ms` on the engine's clock: a queued call's backoff (`on_limit_exceeded: queue`) and a
   * failed settlement's retries take their time from it, and their deadlines from `now`; `close()`
   * waits `closeTimeout` on it for the calls in flight. Rejects
   * with the signal's reason when `signal` aborts. Default: real timers. With `now`, a test moves
   * the clock and drives the queue and the retries without waiting for them.
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** How long a reservation holds without renewal; a crashed call's reservation frees after it. Default 60 000. */
  leaseMs?: number;
  /**
   * How long to wait for the provider's answer (ms) before trying a fallback or answering 504. A
   * JSON call whose caller left after it was sent is still read for up to this long, and settled
   * at the usage the provider reports. Default 600 000.
   */
  providerTimeoutMs?: number;
  /**
   * A streamed answer on which no byte moves, from the provider or to the caller, for this many ms
   * is cancelled: its reader gets an error saying so, and the call is settled for what was
   * delivered, freeing its reservation. Default 60 000.
   */
  streamIdleTimeout?: number;
  /**
   * How long `close()` waits for calls in flight (ms, on the engine's clock: `sleep`) before it
   * settles the rest as cut off (status 499, what was delivered) and closes the store. Default 30 000.
   */
  closeTimeout?: number;
  /**
   * How long a settlement that the store refused (locked, unreachable) is retried in the
   * background, with backoff, before it is reported as lost (ms). The caller's answer never waits
   * for it. Default 60 000.
   */
  settleRetryMs?: number;
  /**
   * Install a SIGTERM/SIGINT handler that awaits `close()` (calls in flight finish and are
   * settled, the ledger is written) and then ends the process with the signal. For apps that have
   * no shutdown handler of their own; an app that has one should await `close()` in it. Default false.
   */
  closeOnExit?: boolean;
  /** The fetch that reaches the provider. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** How `notify` alerts are posted (tries, backoff, timeout, log); see `createAlerts`. */
  alerts?: AlertOptions;
  /** Told about every ledger row as it is recorded (after the store has it). */
  onLedger?: (row: LedgerRow) => void;
  /**
   * Where limits set at run time and credit grants are kept (`engine.limits`, `engine.credits`,
   * `tokenlay limits`, `tokenlay credits`). Default: beside a `postgres://` ledger, else in a
   * `sqlite:` store's file, else in memory. Objects passed in are not closed by `engine.close()`.
   */
  overrides?: OverrideStore;
  /** How often the override store is asked for changes (ms); a change reaches this engine within it. Default 1000. */
  overridesPollMs?: number;
}

/** One call as the client would send it to the provider. */
export interface EngineCall {
  /** Full provider URL, e.g. `https://api.openai.com/v1/chat/completions`. */
  url: string;
  method: string;
  /** Including `Authorization: Bearer <provider key>` and the `x-tokenlay-<field>` headers. */
  headers: Headers;
  /** The JSON text for OpenAI calls; other bodies (uploads) are forwarded as they are, without a model. */
  body: string | BodyInit | null | undefined;
  signal?: AbortSignal | undefined;
  /** In-process callers only (the embedded client): where the engine hands the call's report over as an object. */
  reportTo?: ReportSink | undefined;
}

/** Receives a call's report in-process, so that the answer's headers need not be read back. */
export interface ReportSink {
  /** The report the answer carries (docs/protocol.md §2), just before the answer is returned. */
  onReport(report: CallReport): void;
  /** A streamed answer's report once the call is settled (usage and cost included), also when the stream was cut short. */
  onSettled(report: CallReport): void;
}

/** The policy engine: one instance per app (embedded) or per gateway. */
export interface Engine {
  /** Applies the rules to a call, forwards it if admitted, meters it, and answers with docs/protocol.md §2 headers. */
  handle(call: EngineCall): Promise<Response>;
  /** The store holding counters and the ledger. */
  readonly store: TokenlayStore;
  /** The rules' `notify` alerts (threshold crossings and blocks), when the rules ask for any. */
  readonly alerts: Alerts | undefined;
  /**
   * What each limit that applies to a user with these fields has left (`getTokenlayBudget()` reads
   * it): the limits of the rule a call with these fields (and no model) matches, then the caps of
   * `runs`. Reads the store; throws what it throws.
   */
  budget(fields: Record<string, string>, runs?: readonly RunBudget[]): Promise<BudgetLimit[]>;
  /** Limits set at run time: `limits.set({ user, type, max, window, until?, note? })`, `limits.list()`, `limits.clear({ user, type })`. */
  readonly limits: EngineLimits;
  /** Prepaid balances: `credits.add({ user, usd })`, `credits.balance({ user })`, `credits.list()`. */
  readonly credits: EngineCredits;
  /** Where `limits` and `credits` are kept (give it to `tokenlayDashboard({ overrides })` to list them). */
  readonly overrides: OverrideStore;
  /**
   * The limits and credits of one gateway account: what it sets applies to calls carrying that
   * `account` field only, and it sees only its own. @internal The gateway's admin API.
   */
  forAccount(account: string): { limits: EngineLimits; credits: EngineCredits };
  /** Waits for settlements in flight (JSON calls whose caller left included) and writes queued ledger rows. */
  flush(): Promise<void>;
  /** Refuses new calls, flushes, and closes a store the engine opened. Idempotent. */
  close(): Promise<void>;
}
