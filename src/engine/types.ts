import type { ModelPrice } from '../metering/index.js';
import type { AlertOptions, Alerts } from '../alerts/notifier.js';
import type { LedgerRow, TokenlayStore } from '../store/types.js';

export type { ModelPrice };

/** Configuration of {@link createEngine}. */
export interface EngineConfig {
  /** Rules in the `@tokenlay/rules` format: a `.json`/`.yaml`/`.yml` path or the document. None: every call is allowed and metered. */
  rules?: string | object;
  /** `'memory'`, `'sqlite:<path>'` or a store; see `createStore`. A store object passed in is not closed by `engine.close()`. */
  store?: string | TokenlayStore;
  /** Price overrides by model name; they win over the rules file's `prices:` and the price table. */
  prices?: Record<string, ModelPrice>;
  /** An unpriced model costs 0 with a warning (`zero`, default) or is answered 400 (`refuse`); wins over the rules file. */
  unknownModels?: 'zero' | 'refuse';
  /** The clock (ms since epoch) for windows, leases and the ledger. Default `Date.now`. */
  now?: () => number;
  /** How long a reservation holds without renewal; a crashed call's reservation frees after it. Default 60 000. */
  leaseMs?: number;
  /** How long to wait for the provider's answer before trying a fallback or answering 504. Default 600 000. */
  providerTimeoutMs?: number;
  /** The fetch that reaches the provider. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** How `notify` alerts are posted (tries, backoff, timeout, log); see `createAlerts`. */
  alerts?: AlertOptions;
  /** Told about every ledger row as it is recorded (after the store has it). */
  onLedger?: (row: LedgerRow) => void;
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
}

/** The policy engine: one instance per app (embedded) or per gateway. */
export interface Engine {
  /** Applies the rules to a call, forwards it if admitted, meters it, and answers with PROTOCOL.md §2 headers. */
  handle(call: EngineCall): Promise<Response>;
  /** The store holding counters and the ledger. */
  readonly store: TokenlayStore;
  /** The rules' `notify` alerts (threshold crossings and blocks), when the rules ask for any. */
  readonly alerts: Alerts | undefined;
  /** Waits for settlements in flight and writes queued ledger rows. */
  flush(): Promise<void>;
  /** Refuses new calls, flushes, and closes a store the engine opened. Idempotent. */
  close(): Promise<void>;
}
