import { combineStores } from './combine.js';
import { createMemoryStore } from './memory.js';
import { createPostgresLedger } from './postgres.js';
import { redactUrl } from './redact.js';
import { createRedisStore, type StoreErrorPolicy } from './redis.js';
import { isClusterUrl } from './redis-driver.js';
import { createSqliteStore } from './sqlite.js';
import type { CounterStore, Ledger, LostRowSource, TokenlayStore } from './types.js';
import { TokenlayConfigError } from '../errors.js';

export type * from './types.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory.js';
export { createSqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { createRedisStore, type RedisStoreOptions, type RedisCounterStore, type RedisStoreHealth, type StoreErrorPolicy } from './redis.js';
export { createPostgresLedger, type PostgresLedgerOptions, type PostgresLedger, type PostgresLedgerHealth } from './postgres.js';
export type { CounterRebuild, CounterRebuilder } from './redis-data-loss.js';
export { TokenlayStoreUnavailableError, isStoreUnavailable, STORE_UNAVAILABLE_CODE } from './unavailable.js';
export { combineStores } from './combine.js';
export { HOLDER_LOST } from './types.js';
export { COST_UNITS_PER_USD, CostSum, costUnits, formatUsd, roundUsd, sumUsd, usdOf } from './money.js';

/**
 * The store used when none is configured and `TOKENLAY_STORE` is unset: memory, like most rate
 * limiters. A file in the working directory, picked unasked, would share budgets between every
 * run in that folder (tests, scripts, two checkouts of one app); counters that must survive a
 * restart are asked for with `'sqlite:<path>'`, and the engine says so when it runs limits on memory.
 */
export const DEFAULT_STORE_SPEC = 'memory';

const ACCEPTED = `"memory", "sqlite:<path>" (e.g. "sqlite:./tokenlay.db"), "sqlite::memory:" or "redis://host:6379" (also "rediss://", and "redis+cluster://host1:7000,host2:7001" for a Redis Cluster)`;
const ACCEPTED_LEDGER = `"memory", "sqlite:<path>" or "postgres://user:password@host:5432/db"`;

/** Counters and ledger configured apart: `createStore({ store: 'redis://…', ledger: 'postgres://…' })`. */
export interface StoreOptions {
  /**
   * Counters, reservations and concurrency (and the ledger too, for memory and SQLite when
   * `ledger` is not given): a spec as for {@link createStore}, or a store object.
   * Default: env `TOKENLAY_STORE`, else `'memory'`.
   */
  store?: string | TokenlayStore | CounterStore;
  /**
   * Usage rows: `'postgres://…'` (`?schema=`, `?batchSize=` rows, `?flushIntervalMs=` ms, `?retainMonths=`), `'sqlite:<path>'`, `'memory'`, or a
   * ledger object. Default: env `TOKENLAY_LEDGER`; else the store's own ledger (memory, SQLite), or
   * an in-process memory ledger next to Redis counters.
   */
  ledger?: string | Ledger | TokenlayStore;
  /** Redis counters only: `'closed'` (default) or `'open'` while Redis is unreachable; env `TOKENLAY_ON_STORE_ERROR`. */
  onStoreError?: StoreErrorPolicy;
  /** Postgres ledger only: its local spool file; env `TOKENLAY_LEDGER_SPOOL`, else `./.tokenlay/ledger-<host>-<pid>.spool` (one per process; dead instances' spools in that folder are replayed at start); `false` for a reader that records nothing. */
  spoolPath?: string | false;
}

function isStore(value: unknown): value is TokenlayStore {
  const store = value as Partial<TokenlayStore> | null;
  return isCounterStore(value) && typeof store!.record === 'function' && typeof store!.ledger === 'function';
}

function isCounterStore(value: unknown): value is CounterStore {
  const store = value as Partial<TokenlayStore> | null;
  return typeof store === 'object' && store !== null && typeof store.reserve === 'function' && typeof store.settle === 'function';
}

function isLedger(value: unknown): value is Ledger {
  const ledger = value as Partial<Ledger> | null;
  return typeof ledger === 'object' && ledger !== null && typeof ledger.record === 'function' && typeof ledger.ledger === 'function';
}

function isOptions(value: unknown): value is StoreOptions {
  return typeof value === 'object' && value !== null && !isCounterStore(value) && !isLedger(value);
}

/**
 * `redis://host:6379/0?prefix=app:&account=acme` (or `redis+cluster://h1:7000,h2:7001/?prefix=…`):
 * prefix and account are ours, the rest is the driver's.
 */
function openRedis(text: string, onStoreError: StoreErrorPolicy | undefined) {
  const at = text.indexOf('?');
  const query = new URLSearchParams(at === -1 ? '' : text.slice(at + 1));
  const prefix = query.get('prefix') ?? undefined;
  const account = query.get('account') ?? undefined;
  query.delete('prefix');
  query.delete('account');
  const rest = query.toString();
  const url = (at === -1 ? text : text.slice(0, at)) + (rest ? `?${rest}` : '');
  // A Cluster URL lists several hosts, which URL cannot parse: the driver checks it.
  if (!isClusterUrl(url)) {
    try {
      new URL(url);
    } catch {
      throw new TokenlayConfigError(`tokenlay: store "${redactUrl(text)}" is not a valid URL; use "redis://host:6379" or "rediss://user:password@host:6380/0".`);
    }
  }
  return createRedisStore({ url, prefix, account, onStoreError });
}

function openCounters(spec: string | undefined, onStoreError: StoreErrorPolicy | undefined): CounterStore | TokenlayStore {
  // An empty TOKENLAY_STORE is as good as unset, as for every other env default.
  const text = (spec ?? (process.env.TOKENLAY_STORE || undefined) ?? DEFAULT_STORE_SPEC).trim();
  if (text === 'memory') return createMemoryStore();
  if (/^sqlite:/i.test(text)) {
    let path = text.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs/file.db, sqlite://./rel.db
    if (path === '') throw new TokenlayConfigError(`tokenlay: store "${text}" names no file; use ${ACCEPTED}.`);
    return createSqliteStore({ path });
  }
  if (/^rediss?(\+cluster)?:\/\//i.test(text)) return openRedis(text, onStoreError);
  if (/^postgres(ql)?:/i.test(text)) {
    throw new TokenlayConfigError(`tokenlay: store "${redactUrl(text)}": Postgres holds the ledger, not counters; pass it as ledger: "${redactUrl(text)}" (or --ledger) and the counters as ${ACCEPTED}.`);
  }
  throw new TokenlayConfigError(`tokenlay: unknown store "${redactUrl(text)}"; use ${ACCEPTED}, or pass a TokenlayStore object.`);
}

function openLedger(spec: string, spoolPath: string | false | undefined): Ledger {
  const text = spec.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) {
    const url = new URL(text);
    const schema = url.searchParams.get('schema') ?? undefined;
    const batchSize = numberParam(url, 'batchSize', text);
    const flushIntervalMs = numberParam(url, 'flushIntervalMs', text);
    const retainMonths = numberParam(url, 'retainMonths', text, 0);
    for (const name of ['schema', 'batchSize', 'flushIntervalMs', 'retainMonths']) url.searchParams.delete(name);
    return createPostgresLedger({ url: url.toString(), schema, spoolPath, batchSize, flushIntervalMs, retainMonths });
  }
  if (text === 'memory' || /^sqlite:/i.test(text)) return openCounters(text, undefined) as TokenlayStore;
  throw new TokenlayConfigError(`tokenlay: unknown ledger "${redactUrl(text)}"; use ${ACCEPTED_LEDGER}, or pass a ledger object.`);
}

function numberParam(url: URL, name: string, spec: string, min = 1): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new TokenlayConfigError(`tokenlay: ledger "${redactUrl(spec)}": ${name}=${value} must be a whole number >= ${min}.`);
  }
  return n;
}

let warnedLocalLedger = false;

/**
 * Resolves a store option to a store.
 *
 * - a {@link TokenlayStore} object: used as it is;
 * - `'memory'`: {@link createMemoryStore};
 * - `'sqlite:<path>'` (also `'sqlite://<path>'`) and `'sqlite::memory:'`: {@link createSqliteStore};
 *   a relative path is relative to the working directory;
 * - `'redis://[user:password@]host:port[/db]'` or `'rediss://…'`: {@link createRedisStore} counters
 *   (needs ioredis; `?prefix=` and `?account=` set the key prefix and hash tag), with the ledger
 *   from env `TOKENLAY_LEDGER` or in memory;
 * - `'redis+cluster://[user:password@]host1:7000,host2:7001[/?prefix=…&account=…]'` or
 *   `'rediss+cluster://…'` (TLS): the same counters on a Redis Cluster, the hosts being startup
 *   nodes; every key of one account shares a hash tag, so each script stays on one shard;
 * - `{ store, ledger, onStoreError, spoolPath }`: counters and ledger apart, e.g.
 *   `{ store: 'redis://127.0.0.1:6379', ledger: 'postgres://…' }` ({@link createPostgresLedger}, needs pg);
 * - `undefined`: env `TOKENLAY_STORE` (and `TOKENLAY_LEDGER`), else {@link DEFAULT_STORE_SPEC}.
 *
 * What this function opened is closed by the returned store's `close()`; objects passed in are not.
 *
 * @throws {TokenlayConfigError} naming the value (password redacted) and the accepted forms when a spec is not
 *   one of these, or with the npm install command when ioredis or pg is missing.
 */
export function createStore(spec: string | TokenlayStore | StoreOptions | undefined): TokenlayStore {
  if (spec !== undefined && typeof spec !== 'string' && !isOptions(spec)) {
    if (isStore(spec)) return spec;
    throw new TokenlayConfigError(`tokenlay: store must be a string (${ACCEPTED}) or a TokenlayStore object; got ${Object.prototype.toString.call(spec)}.`);
  }
  const opts: StoreOptions = typeof spec === 'object' ? spec : { store: spec };
  const ledgerSpec = opts.ledger ?? (process.env.TOKENLAY_LEDGER || undefined);
  const storeGiven = typeof opts.store === 'object';
  if (storeGiven && !isCounterStore(opts.store)) {
    throw new TokenlayConfigError(`tokenlay: store must be a string (${ACCEPTED}) or a store object; got ${Object.prototype.toString.call(opts.store)}.`);
  }
  if (ledgerSpec !== undefined && typeof ledgerSpec !== 'string' && !isLedger(ledgerSpec)) {
    throw new TokenlayConfigError(`tokenlay: ledger must be a string (${ACCEPTED_LEDGER}) or a ledger object; got ${Object.prototype.toString.call(ledgerSpec)}.`);
  }
  const counters = storeGiven ? (opts.store as CounterStore) : openCounters(opts.store as string | undefined, opts.onStoreError);
  if (ledgerSpec === undefined) {
    if (isStore(counters)) return counters;
    if (!warnedLocalLedger) {
      warnedLocalLedger = true;
      process.emitWarning("tokenlay: the usage ledger is kept in this process's memory next to Redis counters; pass ledger: 'postgres://…' (or set TOKENLAY_LEDGER) to share it between instances and keep it.");
    }
    return composeOwned(counters, createMemoryStore(), !storeGiven, true);
  }
  let ledger: Ledger;
  try {
    ledger = typeof ledgerSpec === 'string' ? openLedger(ledgerSpec, opts.spoolPath) : ledgerSpec;
  } catch (error) {
    if (!storeGiven) void counters.close();
    throw error;
  }
  return composeOwned(counters, ledger, !storeGiven, typeof ledgerSpec === 'string');
}

/** Composes, closing only the halves this module opened. */
function composeOwned(counters: CounterStore, ledger: Ledger, ownCounters: boolean, ownLedger: boolean): TokenlayStore {
  const noop = async () => {};
  return combineStores(ownCounters ? counters : { ...pick(counters), close: noop }, ownLedger ? ledger : { ...pickLedger(ledger), close: noop });
}

function pick(c: CounterStore): CounterStore {
  const lost = c as Partial<LostRowSource>;
  return {
    ...(typeof lost.sendLostRowsTo === 'function' ? { sendLostRowsTo: (l: Pick<Ledger, 'record'>) => lost.sendLostRowsTo!(l) } : {}),
    reserve: (a, b) => c.reserve(a, b),
    settle: (a, b) => c.settle(a, b),
    release: (a) => c.release(a),
    renew: (a, b) => c.renew(a, b),
    read: (a, b, d, e) => c.read(a, b, d, e),
    close: () => c.close(),
  };
}

function pickLedger(l: Ledger): Ledger {
  return { record: (r, id) => l.record(r, id), ledger: (q) => l.ledger(q), flush: () => l.flush(), close: () => l.close() };
}
