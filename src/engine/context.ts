import type { Pricer } from '../metering/index.js';
import type { RulesDocument } from '../policy/types.js';
import type { UsageReadout } from '../policy/usage.js';
import type { LedgerRow, TokenlayStore } from '../store/types.js';
import type { Leases } from './leases.js';
import type { LiveOverrides } from './overrides.js';

/** What every stage of every call shares: set up once by `createEngine`. */
export interface EngineContext {
  doc: RulesDocument | undefined;
  store: TokenlayStore;
  /** The clock for windows, leases and the ledger (ms since epoch). */
  now: () => number;
  /** Waits on the engine's clock (see `EngineConfig.sleep`). */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  leaseMs: number;
  /** Renews the leases of the reservations held by calls in flight. */
  leases: Leases;
  providerTimeoutMs: number;
  /** ms without a byte moving before a stream is cancelled. */
  streamIdleTimeout: number;
  /** How long a failed settlement is retried in the background (ms). */
  settleRetryMs: number;
  fetch: typeof fetch;
  pricer: Pricer;
  readouts: UsageReadout[];
  /** Limits changed at run time and balances of credits, as last read from the override store. */
  overrides?: LiveOverrides;
  onLedger: ((row: LedgerRow) => void) | undefined;
  /** Keeps a store write in the set that `flush()` waits for. */
  track(p: Promise<unknown>): void;
}
