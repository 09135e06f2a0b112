import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Engine, ModelPrice } from '../engine/types.js';
import type { StoreErrorPolicy } from '../store/redis.js';
import type { Ledger, TokenlayStore } from '../store/types.js';
import type { KeyStore } from './keys.js';
import type { OverrideStore } from '../store/overrides.js';
import type { LogFormat } from './log.js';

/** Options of {@link createGateway}; each has the `tokenlay gateway` flag and env var named. */
export interface GatewayOptions {
  /** Rules file (`.yaml`, `.yml`, `.json`; re-read when it changes) or a rules object. `--rules`, `TOKENLAY_RULES`. Default: none, every call is allowed and metered. */
  rules?: string | object;
  /** Counters (and the ledger unless `ledger` is given): `'sqlite:<path>'`, `'memory'`, `'redis://host:6379'` (needs ioredis), or a store object (not closed by the gateway). `--store`, `TOKENLAY_STORE`. Default `'sqlite:./.tokenlay/usage.db'`. */
  store?: string | TokenlayStore;
  /**
   * The usage ledger apart from the counters: `'postgres://user:password@host:5432/db'` (needs pg),
   * `'sqlite:<path>'`, `'memory'` or a ledger. `--ledger`, `TOKENLAY_LEDGER`. Default: the store's own.
   */
  ledger?: string | Ledger;
  /** With a Postgres ledger: its local spool file, one per gateway. `--ledger-spool`, `TOKENLAY_LEDGER_SPOOL`. Default `./.tokenlay/ledger-<host>-<pid>.spool`, one per process; with it, the spools left in that folder by instances that died are replayed at start. */
  ledgerSpoolPath?: string;
  /**
   * While a Redis store is unreachable: `'closed'` (default, for hard caps) answers 503
   * `tokenlay_store_unavailable`; `'open'` lets calls through uncounted. `--on-store-error`, `TOKENLAY_ON_STORE_ERROR`.
   */
  onStoreError?: StoreErrorPolicy;
  /**
   * Keys and accounts: a SQLite file or a key store. `--keys`, `TOKENLAY_KEYS_FILE`. Default `'./.tokenlay/usage.db'`
   * (a `gateway_keys` table beside the store's). With a `postgres://` `ledger` (or `TOKENLAY_LEDGER`), a path here is
   * ignored: the keys live in that database (`tokenlay_keys`), shared by every gateway pointed at it.
   */
  keys?: string | KeyStore;
  /**
   * Where limits set at run time (`/v1/admin/limits`, `tokenlay limits`) and credit grants are kept.
   * Default: beside a `postgres://` ledger, else in the `sqlite:` store's file, else in memory.
   * An object passed in is not closed by the gateway.
   */
  overrides?: OverrideStore;
  /**
   * With keys in Postgres: how long, in ms, a gateway trusts what it learnt about a presented key before asking
   * the database again, so a key revoked elsewhere is refused within this time. Default 5000.
   */
  keyCacheMs?: number;
  /** Provider bases callers may name in `x-tokenlay-provider-base`; replaces the default list. `--allow-provider-base`, `TOKENLAY_ALLOW_PROVIDER_BASE` (comma-separated). Default {@link DEFAULT_PROVIDER_BASES}. */
  allowProviderBases?: readonly string[];
  /** Largest request body, in bytes; larger ones get 413. `--max-body`, `TOKENLAY_MAX_BODY`. Default 20 MiB (20 971 520). */
  maxBodyBytes?: number;
  /** ms to wait for the provider's answer before a fallback or a 504. `--provider-timeout`, `TOKENLAY_PROVIDER_TIMEOUT`. Default 600 000. */
  providerTimeoutMs?: number;
  /**
   * ms a reservation holds without renewal (each call renews it every half lease while in flight).
   * When a gateway dies, the reservations of its calls in flight are charged at what they reserved
   * once this has passed, by whichever gateway notices first. `--lease`, `TOKENLAY_LEASE_MS`. Default 60 000.
   */
  leaseMs?: number;
  /** ms a stream may stay silent before the gateway ends it; 0 never. `--stream-idle-timeout`, `TOKENLAY_STREAM_IDLE_TIMEOUT`. Default 300 000. */
  streamIdleTimeoutMs?: number;
  /** ms a client has to send its request headers; then 408 and the connection is closed. `--header-timeout`, `TOKENLAY_HEADER_TIMEOUT`. Default 15 000. Applies to the server of {@link Gateway.listen}; mounted in a server of your own, set that server's `headersTimeout`. */
  headerTimeoutMs?: number;
  /** ms a client has to send its whole request body; then 408 `request_timeout`. `--body-timeout`, `TOKENLAY_BODY_TIMEOUT`. Default 60 000. */
  bodyTimeoutMs?: number;
  /**
   * ms a client may take nothing in: no byte of its request body sent (408 `request_timeout`), or no byte of
   * the answer read (the connection is closed, a stream cancelled and settled for what was delivered); 0 never.
   * `--idle-timeout`, `TOKENLAY_IDLE_TIMEOUT`. Default 30 000.
   */
  idleTimeoutMs?: number;
  /**
   * The gateway runs behind a TLS-terminating proxy that sets `X-Forwarded-For` and `X-Forwarded-Proto`:
   * the client's address in the log is the last `X-Forwarded-For` entry, and the dashboard cookie is
   * `Secure` when the last `X-Forwarded-Proto` is `https`. Leave it off when clients reach the gateway
   * directly, or they could claim any address. `--trust-proxy`, `TOKENLAY_TRUST_PROXY=true`. Default false.
   */
  trustProxy?: boolean;
  /** ms that {@link Gateway.close} waits for calls in flight before cutting them. `--drain-timeout`, `TOKENLAY_DRAIN_TIMEOUT`. Default 10 000. */
  drainTimeoutMs?: number;
  /** A pino logger, or `false` for none. Default: JSON lines on standard output (`logFormat`, `logLevel`). */
  logger?: Logger | false;
  /** `json` or `pretty`. `--log-format`, `TOKENLAY_LOG_FORMAT`. Default `json`. */
  logFormat?: LogFormat;
  /** pino level. `--log-level`, `TOKENLAY_LOG_LEVEL`. Default `info`. */
  logLevel?: string;
  /** Price overrides by model name, as for the engine. */
  prices?: Record<string, ModelPrice>;
  /** An unpriced model costs 0 with a warning (`zero`, default) or is refused (`refuse`). */
  unknownModels?: 'zero' | 'refuse';
  /** The clock, ms since epoch. Default `Date.now`. */
  now?: () => number;
}

/** Where a listening gateway is. */
export interface GatewayAddress {
  host: string;
  port: number;
  /** `http://HOST:PORT` */
  url: string;
}

/** A gateway: a Node request listener (call it as one, or pass `gateway.handler`) with a server of its own on demand. */
export interface Gateway {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The request listener: `http.createServer(gateway.handler)` or mount it in another server. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Starts an HTTP server on `host` (default 127.0.0.1) and `port` (default 8787; 0 picks a free one). */
  listen(port?: number, host?: string): Promise<GatewayAddress>;
  /**
   * Stops taking calls, waits up to `drainTimeoutMs` for calls in flight (streams included), cuts
   * the rest, writes the ledger and closes what the gateway opened. Idempotent.
   */
  close(): Promise<void>;
  /** Re-reads the rules file; on problems logs them by path and keeps the rules in force. @returns whether the new rules apply. */
  reloadRules(): boolean;
  /** The engine in force (a new one after each rules reload). */
  readonly engine: Engine;
  readonly store: TokenlayStore;
  readonly keys: KeyStore;
  /** The Prometheus registry behind `GET /metrics`. */
  readonly metrics: Registry;
  /** Calls being answered right now. */
  readonly inFlight: number;
}
