/**
 * Redis losing its data (a restart without persistence, `FLUSHALL`, a failover to an empty
 * replica) is seen and repaired here. Every counter store keeps a marker key beside its counters
 * (`<prefix>{<account>}:epoch`); the reservation script refuses to count while it is missing (see
 * `RESERVE`), so no call is admitted against counters that silently started again from zero.
 *
 * Then one instance (a lock in Redis picks it) rebuilds the current windows' counters from the
 * ledger and sets the marker again; calls on every instance wait for the marker meanwhile. The
 * rebuild only ever raises a counter to what the ledger says it holds, so an instance that takes
 * over a rebuild another one left half done, or counters that were never lost (an upgrade from a
 * version without the marker), are not counted twice.
 */
import type { Cluster, Redis } from 'ioredis';
import type { CounterCheck, Metric } from './types.js';

/** What a rebuild of the counters may do: read a counter, and add to one. */
export interface CounterRebuild {
  /** A counter's settled usage now. */
  used(key: string, metric: Metric, bucket: number, now: number): Promise<number>;
  /** Adds `amount` (requests, tokens or USD, as the metric counts) to one counter, as a settled call would. */
  add(check: Omit<CounterCheck, 'max' | 'amount'>, amount: number): Promise<void>;
  /** ms since epoch. */
  now: number;
}

/**
 * Rebuilds the counters from the ledger; resolves with how many counters it raised and from how
 * many ledger rows. Registered by the engine, which knows the rules that name the counters.
 */
export type CounterRebuilder = (rebuild: CounterRebuild) => Promise<{ counters: number; rows: number }>;

export interface DataLossGuardOptions {
  client: Redis | Cluster;
  /** `<prefix>{<account>}:` */
  base: string;
  /** The store, for log lines (password redacted). */
  where: string;
  log: (line: string) => void;
  /** How long the rebuilding instance waits for other instances' last rows to reach the ledger, after a loss it saw happen. */
  graceMs: number;
  /** How long callers wait for a rebuild before the store counts as unavailable. */
  timeoutMs: number;
  /** Runs one command as the store runs its own (bounded in time; a failure is an outage). */
  send: <T>(run: () => Promise<T>) => Promise<T>;
  used: CounterRebuild['used'];
  add: CounterRebuild['add'];
}

/** The marker key of a store whose keys start with `base`. */
export function markerKey(base: string): string {
  return `${base}epoch`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// A rebuilder that died holds the lock this long at most; another instance then takes over.
const LOCK_MS = 60_000;

/** Watches for lost data and rebuilds; one per store. */
export function dataLossGuard(opts: DataLossGuardOptions) {
  const { client, base, where, log, send } = opts;
  const marker = markerKey(base);
  const lock = `${base}rebuilding`;
  let rebuilder: CounterRebuilder | undefined;
  let recovering: Promise<void> | undefined;
  // Whether this process has seen the marker: a missing marker is then a loss it lived through
  // (rows of calls in flight may still be on their way to the ledger), not a first start.
  let seen = false;
  let losses = 0;

  async function rebuild(): Promise<void> {
    const owner = globalThis.crypto.randomUUID();
    const took = (await send(() => client.set(lock, owner, 'PX', LOCK_MS, 'NX'))) === 'OK';
    if (!took) {
      // Another instance rebuilds: wait for its marker (or for its lock to lapse, then take over).
      const end = Date.now() + opts.timeoutMs;
      while (Date.now() < end) {
        await sleep(100);
        if ((await send(() => client.exists(marker))) === 1) return;
        if ((await send(() => client.exists(lock))) === 0) return rebuild();
      }
      throw new Error(`the counters are being rebuilt from the ledger by another instance and were not ready within ${opts.timeoutMs} ms`);
    }
    try {
      const started = Date.now();
      if (!rebuilder) {
        if (seen) log(`tokenlay: Redis store ${where}: no ledger to rebuild the counters from in this process; they start again from zero.`);
      } else {
        if (seen) await sleep(opts.graceMs);
        const { counters, rows } = await rebuilder({ used: opts.used, add: opts.add, now: Date.now() });
        // A first start with nothing to rebuild is not news.
        if (seen || counters > 0) {
          log(`tokenlay: Redis store ${where}: ${counters} counter(s) of the current windows rebuilt from ${rows} ledger row(s) in ${Date.now() - started} ms; calls are counted again.`);
        }
      }
      await send(() => client.set(marker, String(Date.now())));
    } finally {
      // Only this instance's lock: one that lapsed may be another's by now.
      if ((await client.get(lock).catch(() => null)) === owner) await client.del(lock).catch(() => {});
    }
  }

  return {
    /** The marker key, to pass to the reservation script. */
    marker,
    /** Data losses this process saw since it started. */
    get losses() {
      return losses;
    },
    /** A reservation found the marker: the counters are whole. */
    present(): void {
      seen = true;
    },
    /** Registers what rebuilds the counters (the latest registration wins). */
    watch(fn: CounterRebuilder): void {
      rebuilder = fn;
    },
    /**
     * A reservation found the marker gone: logs it once, then rebuilds (or waits for the instance
     * that does). Concurrent callers share one recovery.
     */
    recover(): Promise<void> {
      recovering ??= (async () => {
        try {
          // A store with nothing to rebuild from, at its start: only the marker to set.
          if (!rebuilder && !seen) {
            await send(() => client.set(marker, String(Date.now()), 'NX'));
            return;
          }
          if ((await send(() => client.exists(marker))) === 1) return;
          // Without the marker at this process's start: a first start on this Redis, or a loss
          // while no instance ran; the rebuild's own line says if it found anything.
          if (seen) {
            losses++;
            log(
              `tokenlay: Redis store ${where} lost its data (its marker key ${marker} is gone: a restart without persistence, FLUSHALL, or a failover to an empty replica); calls wait while the current windows' counters are rebuilt from the ledger.`,
            );
          }
          await rebuild();
          seen = true;
        } finally {
          recovering = undefined;
        }
      })();
      return recovering;
    },
  };
}
