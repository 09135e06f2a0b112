import { TokenlayConfigError } from '../errors.js';
import type { Cluster, Redis } from 'ioredis';
import { storeClosedError } from './closed-error.js';
import { redactUrl } from './redact.js';
import { dataLossGuard, type CounterRebuilder } from './redis-data-loss.js';
import { connectRedis, redisConnection } from './redis-driver.js';
import { FINISH, READ, RENEW, RESERVE } from './redis-scripts.js';
import { lostRow } from './lost-row.js';
import { capUnits, costUnits } from './money.js';
import type { Actual, CounterCheck, Ledger, LedgerRow, LostRowSource, Metric, ReserveOptions, ReserveResult } from './types.js';
import { fromCounterUnits } from './units.js';
import { TokenlayStoreUnavailableError } from './unavailable.js';
import { assertValidChecks } from './validate.js';

/** What a store does with a call while its backend cannot be reached. */
export type StoreErrorPolicy = 'closed' | 'open';

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /**
   * One server: `redis://[user:password@]host:port[/db]`, or `rediss://…` (TLS).
   * A Redis Cluster: `redis+cluster://[user:password@]host1:7000,host2:7001`, or
   * `rediss+cluster://…` (TLS); the hosts are startup nodes (the others are discovered) and the
   * password is that of every node. Every key of one account shares a hash tag, so each script
   * stays on one shard. Ignored when `client` is given.
   */
  url?: string;
  /**
   * A connected ioredis `Redis` or `Cluster` to use instead of `url` (e.g. a Cluster: every key
   * of one account shares a hash tag, so each script stays on one shard). Not closed by `close()`.
   */
  client?: Redis | Cluster;
  /** Prefix of every key. Default `'tokenlay:'`. */
  prefix?: string;
  /** The account whose counters these are; it is the keys' hash tag. Default `'default'`. */
  account?: string;
  /**
   * While Redis is unreachable: `'closed'` (default, for hard caps) refuses calls with
   * {@link TokenlayStoreUnavailableError}, which the engine answers 503 `tokenlay_store_unavailable`;
   * `'open'` admits them uncounted. Env `TOKENLAY_ON_STORE_ERROR` when not given.
   */
  onStoreError?: StoreErrorPolicy;
  /** How long a command may take before Redis counts as unreachable. Default 2000 ms. */
  commandTimeoutMs?: number;
  /**
   * How long a reservation charged as lost (its lease ran out) is remembered, so that its late
   * settlement adds nothing; also how long an unsettled reservation's key outlives its lease. Default 24 h.
   */
  settleGraceMs?: number;
  /** Where the one line per outage (and per recovery), and per data loss, goes. Default `console.warn`. */
  log?: (line: string) => void;
  /**
   * After Redis lost its data while this process ran, how long (ms) the instance that rebuilds
   * the counters waits for the last rows of calls in flight to reach the ledger (other instances
   * write theirs every `flushIntervalMs`) before reading it. Default 2500.
   */
  dataLossGraceMs?: number;
}

/** How the Redis store has fared: for a health endpoint or a metric. */
export interface RedisStoreHealth {
  /** False during an outage. */
  available: boolean;
  /** Outages since the store was created. */
  outages: number;
  /** Calls refused (policy `closed`) or admitted uncounted (policy `open`) during outages. */
  unavailableCalls: number;
  /** Settlements waiting for Redis to return. */
  pendingSettlements: number;
  /** Times this process saw Redis lose its data (the marker key gone) and the counters rebuilt. */
  dataLosses: number;
}

/** The counter half of the store contract, on Redis. */
export interface RedisCounterStore extends LostRowSource {
  reserve(checks: CounterCheck[], opts: ReserveOptions): Promise<ReserveResult>;
  settle(id: string, actual: Actual): Promise<void>;
  release(id: string): Promise<void>;
  renew(id: string, opts: { now: number; leaseMs: number }): Promise<void>;
  read(key: string, metric: Metric, bucket: number, now: number): Promise<{ used: number; reserved: number }>;
  close(): Promise<void>;
  /** Availability, outages and queued settlements. */
  health(): RedisStoreHealth;
  /**
   * Registers what rebuilds the counters from the ledger when Redis lost its data (the engine
   * does, with its rules). Without one, counters start again from zero after a loss, said in the log.
   */
  watchDataLoss(rebuilder: CounterRebuilder): void;
}

type ScriptClient = (Redis | Cluster) & {
  tokenlayReserve(...args: (string | number)[]): Promise<string[] | number[]>;
  tokenlayFinish(...args: (string | number)[]): Promise<number>;
  tokenlayRenew(...args: (string | number)[]): Promise<number>;
  tokenlayRead(...args: (string | number)[]): Promise<string[]>;
};

const DAY_MS = 86_400_000;
// Redis's own TTLs outlive a window by this much, so a little clock skew between instances
// never drops a counter another instance still reads.
const EXPIRY_MARGIN_MS = 60_000;
// How long a call waits for the counters to be rebuilt after Redis lost its data.
const REBUILD_WAIT_MS = 30_000;
// Admitted while Redis was down under policy `open`: nothing to settle.
const UNCOUNTED = 'uncounted:';

function policyFromEnv(): StoreErrorPolicy | undefined {
  const value = process.env.TOKENLAY_ON_STORE_ERROR?.trim();
  if (!value) return undefined;
  if (value === 'closed' || value === 'open') return value;
  throw new TokenlayConfigError(`tokenlay: TOKENLAY_ON_STORE_ERROR is "${value}"; use "closed" (refuse calls while the store is down) or "open" (admit them uncounted).`);
}

/** A counter amount as the scripts add it: whole 1e-10 USD units for cost, whole counts otherwise. */
function wholeAmount(metric: Metric, value: number): string {
  return String(metric === 'cost' ? costUnits(value) : Math.min(Math.ceil(value), Number.MAX_SAFE_INTEGER));
}

/** A reply error means Redis answered: a bug to surface, not an outage. */
function isReplyError(error: unknown): boolean {
  return (error as Error | null)?.name === 'ReplyError';
}

/** `promise`, or an error once `ms` have passed without an answer. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Counters, reservations and concurrency on Redis, shared by every instance of an app or gateway.
 * Admission and settlement are each one round trip: an EVALSHA of a Lua script over the call's
 * counters (see `redis-scripts.ts`), so N instances enforce exactly the limit one would.
 *
 * While Redis is unreachable the store follows `onStoreError`, logs one line per outage, and
 * recovers by itself when Redis returns (ioredis reconnects); settlements that could not be
 * written are kept and written then, so no settled call is lost while the process lives.
 *
 * @throws an Error naming the option when neither `url` nor `client` is given, one naming a
 *   malformed Cluster URL (password redacted) and the form to use, and one with
 *   "npm install ioredis" when the package is missing.
 */
export function createRedisStore(opts: RedisStoreOptions): RedisCounterStore {
  const policy = opts.onStoreError ?? policyFromEnv() ?? 'closed';
  if (policy !== 'closed' && policy !== 'open') {
    throw new TokenlayConfigError(`tokenlay: onStoreError is ${JSON.stringify(policy)}; use "closed" (refuse calls while the store is down) or "open" (admit them uncounted).`);
  }
  if (!opts.client && !opts.url) throw new TokenlayConfigError('tokenlay: the Redis store needs `url` (e.g. "redis://127.0.0.1:6379") or an ioredis `client`.');
  const where = opts.url ? redactUrl(opts.url) : 'client';
  const settleGraceMs = opts.settleGraceMs ?? DAY_MS;
  const log = opts.log ?? ((line: string) => console.warn(line));
  const base = `${opts.prefix ?? 'tokenlay:'}{${opts.account ?? 'default'}}:`;
  const owned = !opts.client;
  const timeoutMs = opts.commandTimeoutMs ?? 2000;
  // Commands fail rather than queue forever while reconnecting: the policy decides.
  const client = (opts.client ?? connectRedis(redisConnection(opts.url!, timeoutMs))) as ScriptClient;
  // A Cluster with no reachable node queues commands until it has a slot map, which the
  // per-node command timeout does not bound: the store bounds them itself.
  const bounded = (client as Cluster).isCluster === true;
  client.defineCommand('tokenlayReserve', { lua: RESERVE });
  client.defineCommand('tokenlayFinish', { lua: FINISH, numberOfKeys: 1 });
  client.defineCommand('tokenlayRenew', { lua: RENEW, numberOfKeys: 1 });
  client.defineCommand('tokenlayRead', { lua: READ, numberOfKeys: 2 });

  let closed = false;
  let outageSince: number | null = null;
  let outages = 0;
  let unavailableCalls = 0;
  // Settlements and releases to write once Redis is back, by reservation id.
  const pending = new Map<string, { mode: 'settle' | 'release'; actual: Actual }>();

  function down(error: unknown): void {
    if (outageSince !== null || closed) return;
    outageSince = Date.now();
    outages++;
    const what = policy === 'closed' ? 'calls with limits are refused (503 tokenlay_store_unavailable)' : 'calls are admitted without counting';
    log(`tokenlay: Redis store ${where} is unreachable (${(error as Error)?.message ?? String(error)}); ${what} until it returns (onStoreError: ${policy}).`);
  }

  function up(): void {
    if (outageSince === null) return;
    const lasted = Date.now() - outageSince;
    outageSince = null;
    log(`tokenlay: Redis store ${where} is reachable again after ${lasted} ms; ${pending.size} settlement(s) to write.`);
    void drain();
  }

  client.on('ready', up);
  // ioredis emits an error per failed reconnect; the outage is logged once, by down().
  client.on('error', (error: unknown) => down(error));

  function unavailable(cause: unknown): TokenlayStoreUnavailableError {
    return new TokenlayStoreUnavailableError(
      `tokenlay: the Redis store ${where} is unreachable, so limits cannot be checked; the call was refused (onStoreError: closed). It is retried automatically; check that Redis is up.`,
      { cause },
    );
  }

  /** Runs one command; a connection failure marks an outage and rethrows as unavailable. */
  async function send<T>(run: () => Promise<T>): Promise<T> {
    // During an outage, fail at once instead of making every call wait for a timeout.
    if (outageSince !== null && client.status !== 'ready') throw unavailable(new Error(`connection is ${client.status}`));
    try {
      const result = bounded ? await within(run(), timeoutMs) : await run();
      // A Redis that was stopped (not disconnected) comes back on the same connection: no
      // 'ready' event, so the first command that succeeds ends the outage.
      if (outageSince !== null) up();
      return result;
    } catch (error) {
      if (isReplyError(error)) throw error;
      down(error);
      throw unavailable(error);
    }
  }

  async function finish(id: string, mode: 'settle' | 'release', actual: Actual): Promise<void> {
    if (id.startsWith(UNCOUNTED)) return;
    try {
      await send(() =>
        client.tokenlayFinish(base + 'r:' + id, id, base, mode, wholeAmount('requests', actual.requests), wholeAmount('tokens', actual.tokens), wholeAmount('cost', actual.cost)),
      );
      pending.delete(id);
    } catch (error) {
      if (!(error instanceof TokenlayStoreUnavailableError)) throw error;
      // Money paths never drop a settled call: keep it for when Redis returns. Settle is
      // idempotent, so writing it twice is harmless.
      const queued = pending.get(id);
      if (mode === 'settle' || !queued) pending.set(id, { mode, actual });
    }
  }

  let draining: Promise<void> | undefined;
  function drain(): Promise<void> {
    draining ??= (async () => {
      try {
        for (const [id, { mode, actual }] of [...pending]) {
          if (outageSince !== null) return;
          await finish(id, mode, actual);
        }
      } finally {
        draining = undefined;
      }
    })();
    return draining;
  }

  function ensureOpen(method: string): void {
    if (closed) throw storeClosedError('Redis', method);
  }

  // Rows of lost holders this instance charged: recorded in the ledger the store is combined with.
  let ledger: Pick<Ledger, 'record'> | undefined;
  let unsent: Array<{ id: string; row: LedgerRow }> = [];
  function recordLost(replies: (string | number)[]): void {
    for (const text of replies) {
      try {
        const { id, row } = JSON.parse(String(text)) as { id: string; row: LedgerRow };
        if (ledger) ledger.record(lostRow(row), id);
        else unsent.push({ id, row: lostRow(row) });
      } catch (error) {
        log(`tokenlay: the ledger row of a call whose instance was lost could not be recorded (its counters were charged): ${(error as Error)?.message ?? String(error)}`);
      }
    }
  }

  function suffix(metric: string, bucket: number, key: string): string {
    return `${metric}:${bucket}:${key}`;
  }

  /** One RESERVE script; `marked`: refused with `{2}` when Redis lost its data. */
  function reserveScript(checks: CounterCheck[], id: string, now: number, leaseMs: number, lost: LedgerRow | undefined, marked: boolean) {
    const keys = [base + 'r:' + id];
    const args: (string | number)[] = [now, now + leaseMs, leaseMs + settleGraceMs, id, EXPIRY_MARGIN_MS, base, lost ? JSON.stringify({ id, row: lost }) : '', settleGraceMs];
    for (const c of checks) {
      const s = suffix(c.metric, c.bucket, c.key);
      keys.push(base + 'h:' + s, base + 'l:' + s);
      const max = Number.isFinite(c.max) ? String(c.metric === 'cost' ? capUnits(c.max) : c.max) : '';
      args.push(s, c.metric, max, wholeAmount(c.metric, c.amount), c.expiresAt === null ? '' : String(c.expiresAt));
    }
    if (marked) keys.push(loss.marker);
    return send(() => client.tokenlayReserve(keys.length, ...keys, ...args));
  }

  const loss = dataLossGuard({
    client,
    base,
    where,
    log,
    graceMs: opts.dataLossGraceMs ?? 2500,
    timeoutMs: REBUILD_WAIT_MS,
    send,
    used: async (key, metric, bucket, now) => (await store.read(key, metric, bucket, now)).used,
    // As a settled call adds: a reservation of nothing, settled with the amount (only the hold's metric counts).
    async add(check, amount) {
      const id = globalThis.crypto.randomUUID();
      await reserveScript([{ ...check, max: Infinity, amount: 0 }], id, Date.now(), 60_000, undefined, false);
      const whole = wholeAmount(check.metric, amount);
      await send(() => client.tokenlayFinish(base + 'r:' + id, id, base, 'settle', whole, whole, whole));
    },
  });

  const store: RedisCounterStore = {
    async reserve(checks, { now, leaseMs, lost }) {
      ensureOpen('reserve');
      assertValidChecks(checks);
      const id = globalThis.crypto.randomUUID();
      let reply: (string | number)[];
      // During a known outage nothing is sent (see send()), so nothing can run later.
      const sent = outageSince === null || client.status === 'ready';
      try {
        reply = await reserveScript(checks, id, now, leaseMs, lost, true);
        // Redis lost its data: nothing is counted until the counters are rebuilt, then the call is
        // admitted (or refused) against them.
        for (let tries = 0; Number(reply[0]) === 2; tries++) {
          if (tries === 3) throw unavailable(new Error('the counters were lost again while being rebuilt'));
          await within(loss.recover(), REBUILD_WAIT_MS).catch((error: unknown) => {
            throw isReplyError(error) ? error : unavailable(error);
          });
          reply = await reserveScript(checks, id, now, leaseMs, lost, true);
        }
        loss.present();
      } catch (error) {
        if (!(error instanceof TokenlayStoreUnavailableError)) throw error;
        unavailableCalls++;
        // A script that timed out may still run when Redis wakes up: release it then, so it does
        // not hold a slot until its lease ends. Releasing an id Redis never saw is a no-op.
        if (sent) pending.set(id, { mode: 'release', actual: { requests: 0, tokens: 0, cost: 0 } });
        if (policy === 'open') return { ok: true, id: UNCOUNTED + id };
        throw error;
      }
      if (Number(reply[0]) === 1) {
        recordLost(reply.slice(1));
        return { ok: true, id };
      }
      recordLost(reply.slice(5));
      const m = checks[Number(reply[1])]!.metric;
      return { ok: false, index: Number(reply[1]), current: fromCounterUnits(m, Number(reply[2])), used: fromCounterUnits(m, Number(reply[3])), reserved: fromCounterUnits(m, Number(reply[4])) };
    },
    async settle(id, actual) {
      ensureOpen('settle');
      await finish(id, 'settle', actual);
    },
    async release(id) {
      ensureOpen('release');
      await finish(id, 'release', { requests: 0, tokens: 0, cost: 0 });
    },
    async renew(id, { now, leaseMs }) {
      ensureOpen('renew');
      if (id.startsWith(UNCOUNTED)) return;
      try {
        await send(() => client.tokenlayRenew(base + 'r:' + id, id, base, now, now + leaseMs));
      } catch (error) {
        // A lease that cannot be renewed runs out, which frees the slot: the safe direction.
        if (!(error instanceof TokenlayStoreUnavailableError)) throw error;
      }
    },
    async read(key, metric, bucket, now) {
      ensureOpen('read');
      const s = suffix(metric, bucket, key);
      try {
        const [used, reserved, ...rows] = await send(() => client.tokenlayRead(base + 'h:' + s, base + 'l:' + s, now, base, metric, settleGraceMs));
        recordLost(rows);
        return { used: fromCounterUnits(metric, Number(used)), reserved: fromCounterUnits(metric, Number(reserved)) };
      } catch (error) {
        if (!(error instanceof TokenlayStoreUnavailableError) || policy === 'closed') throw error;
        return { used: 0, reserved: 0 };
      }
    },
    sendLostRowsTo(target) {
      ledger = target;
      const rows = unsent;
      unsent = [];
      for (const { id, row } of rows) target.record(row, id);
    },
    health() {
      return { available: outageSince === null, outages, unavailableCalls, pendingSettlements: pending.size, dataLosses: loss.losses };
    },
    watchDataLoss(rebuilder) {
      loss.watch(rebuilder);
    },
    async close() {
      if (closed) return;
      if (pending.size > 0 && outageSince === null) await drain();
      closed = true;
      if (pending.size > 0) {
        log(`tokenlay: Redis store ${where} closed with ${pending.size} settlement(s) not written (Redis unreachable); their reservations expire with their leases.`);
      }
      client.removeListener('ready', up);
      if (owned) {
        await client.quit().catch(() => client.disconnect());
      }
    },
  };
  return store;
}
