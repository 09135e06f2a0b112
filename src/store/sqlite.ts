import { storeClosedError } from './closed-error.js';
import { settledAmount } from './settle-amount.js';
import { BUSY_SPIN_MS, whenUnlocked } from './sqlite-busy.js';
import { openDatabase } from './sqlite-driver.js';
import { flushAtExit } from './sqlite-exit.js';
import { createLedgerWriter } from './sqlite-ledger.js';
import { migrate } from './sqlite-schema.js';
import { STATEMENTS } from './sqlite-statements.js';
import { lostRow } from './lost-row.js';
import type { Actual, CounterCheck, CounterReading, LedgerRow, Metric, ReserveResult, TokenlayStore } from './types.js';
import { actualInUnits, checkInUnits, fromCounterUnits } from './units.js';
import { assertValidChecks } from './validate.js';

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions {
  /** Database file (parent directories are created), or `':memory:'`. Relative to the working directory. */
  path: string;
  /** Queued ledger rows that trigger a write. Default 100; 1 writes every row at once. */
  batchSize?: number;
  /**
   * Longest a queued ledger row waits in memory before it is written: the most a crash can lose
   * of rows that settle no reservation (settled calls are written with their counters). Default 100 ms.
   */
  flushIntervalMs?: number;
  /**
   * How long a write waits for another process's transaction before failing (SQLITE_BUSY). The
   * wait is asynchronous (retries with backoff); the event loop is never blocked more than about
   * 10 ms at a time. Default 5000 ms.
   */
  busyTimeoutMs?: number;
  /**
   * How long the store remembers a reservation it charged as lost (its lease ran out), so that a
   * late `settleWithRow` of that call adds no second row. Default 24 h.
   */
  settleGraceMs?: number;
  /** Told about a background ledger write that failed (its rows are retried). Default: `console.warn`. */
  onError?: (error: unknown) => void;
}

interface HoldRow {
  key: string;
  metric: Metric;
  bucket: number;
  amount: number;
  expires_at: number | null;
}

/** A hold of the call being settled, with its counter as it stood before the settlement (units). */
interface HoldWithCounter extends HoldRow {
  used: number | null;
  /** Live reservations of other calls on the counter. */
  others: number;
}

interface LostHoldRow extends HoldRow {
  id: string;
  lost_row: string | null;
}

const DAY_MS = 86_400_000;
// Sweeping deletes across whole tables, so do it at most this often (in the callers' clock).
const SWEEP_EVERY_MS = 60_000;

/**
 * A store on one SQLite file, the embedded default. Several processes may share the file: reserve
 * and settle run in `BEGIN IMMEDIATE` transactions, which take the write lock before reading, so
 * no two processes can both see room under a limit and both take it.
 */
export function createSqliteStore(opts: SqliteStoreOptions): TokenlayStore {
  const path = opts.path;
  const settleGraceMs = opts.settleGraceMs ?? DAY_MS;
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  const db = openDatabase(path, BUSY_SPIN_MS);
  try {
    migrate(db, path);
  } catch (error) {
    db.close();
    throw error;
  }

  const ledger = createLedgerWriter(db, {
    batchSize: Math.max(1, opts.batchSize ?? 100),
    flushIntervalMs: opts.flushIntervalMs ?? 100,
    onError: opts.onError ?? ((error) => console.warn(`tokenlay: writing the usage ledger to ${path} failed; will retry:`, error)),
  });
  const stopExitFlush = flushAtExit(() => ledger.flushSync());

  const readCounter = db.prepare<[string, string, number, number, string, string, number, number], { used: number | null; reserved: number }>(STATEMENTS.readCounter);
  const insertHold = db.prepare(STATEMENTS.insertHold);
  const anyLost = db.prepare<[number], { id: string }>(STATEMENTS.anyLost);
  const selectLost = db.prepare<[number], LostHoldRow>(STATEMENTS.selectLost);
  const selectLostOthers = db.prepare<[number, string], LostHoldRow>(STATEMENTS.selectLostOthers);
  const selectHoldsWithCounters = db.prepare<[number, number, string], HoldWithCounter>(STATEMENTS.selectHoldsWithCounters);
  const markCharged = db.prepare<[string, number]>(STATEMENTS.markCharged);
  const wasCharged = db.prepare<[string], { id: string }>(STATEMENTS.wasCharged);
  const sweepCharged = db.prepare<[number]>(STATEMENTS.sweepCharged);
  const selectHolds = db.prepare<[string], HoldRow>(STATEMENTS.selectHolds);
  const deleteHolds = db.prepare<[string]>(STATEMENTS.deleteHolds);
  const addUsage = db.prepare(STATEMENTS.addUsage);
  const renewHolds = db.prepare<[number, string]>(STATEMENTS.renewHolds);
  const sweepCounters = db.prepare<[number]>(STATEMENTS.sweepCounters);

  /** Counter state in units: settled usage, and live reservations (one statement, as each check and reading needs both). */
  function current(key: string, metric: string, bucket: number, now: number) {
    const row = readCounter.get(key, metric, bucket, now, key, metric, bucket, now);
    return { used: row?.used ?? 0, reserved: row?.reserved ?? 0 };
  }

  /**
   * Inside a write transaction: charges every reservation whose lease ran out at what it reserved
   * and records its row, in the same commit, so exactly one process does it for each.
   */
  function chargeLost(now: number, except?: string): void {
    let last: string | undefined;
    for (const hold of except === undefined ? selectLost.all(now) : selectLostOthers.all(now, except)) {
      if (hold.metric !== 'concurrent' && hold.amount !== 0) addUsage.run(hold.key, hold.metric, hold.bucket, hold.amount, hold.expires_at);
      if (hold.id === last) continue;
      last = hold.id;
      deleteHolds.run(hold.id);
      markCharged.run(hold.id, now);
      if (hold.lost_row) ledger.insert(lostRow(JSON.parse(hold.lost_row) as LedgerRow));
    }
  }
  const chargeLostTx = db.transaction((now: number) => chargeLost(now));

  let nextSweepAt = -Infinity;
  function sweep(now: number): void {
    chargeLost(now);
    if (now < nextSweepAt) return;
    nextSweepAt = now + SWEEP_EVERY_MS;
    sweepCharged.run(now - settleGraceMs);
    sweepCounters.run(now);
  }

  const reserveTx = db.transaction((checks: CounterCheck[], now: number, leaseMs: number, lost: string | null): ReserveResult => {
    sweep(now);
    for (let index = 0; index < checks.length; index++) {
      const { key, metric, bucket, max } = checks[index];
      const { used, reserved } = current(key, metric, bucket, now);
      if (used + reserved >= max) {
        return { ok: false, index, current: fromCounterUnits(metric, used + reserved), used: fromCounterUnits(metric, used), reserved: fromCounterUnits(metric, reserved) };
      }
    }
    const id = globalThis.crypto.randomUUID();
    checks.forEach((c, idx) => insertHold.run(id, idx, c.key, c.metric, c.bucket, c.amount, now + leaseMs, c.expiresAt, idx === 0 ? lost : null));
    return { ok: true, id };
  });

  /**
   * Settles a call: its counters get what it used, its holds go, and its ledger row commits with
   * them (a crash keeps both or neither). With `now`, it also gives back the call's counters as
   * read() would give them then: other lost holders are charged first (this call is settled for
   * real, even past its lease, as long as nobody charged it), and the call's holds are read with
   * their counters once, before this settlement changes them.
   */
  const settleTx = db.transaction((id: string, actual: Actual | null, row?: LedgerRow, now?: number): CounterReading[] | undefined => {
    if (now !== undefined) chargeLost(now, id);
    const holds: Array<HoldRow & Partial<HoldWithCounter>> = now !== undefined ? selectHoldsWithCounters.all(now, now, id) : row || actual ? selectHolds.all(id) : [];
    // Charged as lost already: that charge and its row stand, once. Charging deletes every hold
    // of the call in the same commit, so a call that still holds any was not charged.
    if (row && holds.length === 0 && wasCharged.get(id)) return undefined;
    const added = holds.map((hold) => (actual ? settledAmount(hold.metric, actual) : 0));
    holds.forEach((hold, i) => {
      if (added[i] !== 0) addUsage.run(hold.key, hold.metric, hold.bucket, added[i], hold.expires_at);
    });
    deleteHolds.run(id);
    if (row) ledger.insert(row);
    if (now === undefined || holds.length === 0) return undefined;
    return holds.map((hold): CounterReading => {
      // What this settlement added to the counter (a call may hold one counter more than once).
      let sum = 0;
      holds.forEach((other, i) => {
        if (other.key === hold.key && other.metric === hold.metric && other.bucket === hold.bucket) sum += added[i];
      });
      // A counter whose window has ended reads as empty, whatever this call added to it.
      const used = hold.expires_at !== null && hold.expires_at <= now ? 0 : (hold.used ?? 0) + sum;
      return { key: hold.key, metric: hold.metric, bucket: hold.bucket, used: fromCounterUnits(hold.metric, used), reserved: fromCounterUnits(hold.metric, hold.others ?? 0) };
    });
  });

  let closed = false;
  function ensureOpen(method: string): void {
    if (closed) throw storeClosedError('SQLite', method);
  }

  return {
    async reserve(checks, { now, leaseMs, lost }) {
      ensureOpen('reserve');
      assertValidChecks(checks);
      const inUnits = checks.map(checkInUnits);
      const lostText = lost ? JSON.stringify(lost) : null;
      return whenUnlocked(() => reserveTx.immediate(inUnits, now, leaseMs, lostText), busyTimeoutMs);
    },
    async settle(id, actual) {
      ensureOpen('settle');
      const units = actualInUnits(actual);
      await whenUnlocked(() => settleTx.immediate(id, units), busyTimeoutMs);
    },
    async release(id) {
      ensureOpen('release');
      await whenUnlocked(() => deleteHolds.run(id), busyTimeoutMs);
    },
    async settleWithRow(id, actual, row, now) {
      ensureOpen('settleWithRow');
      const units = actual && actualInUnits(actual);
      return whenUnlocked(() => settleTx.immediate(id, units, row, now), busyTimeoutMs);
    },
    async renew(id, { now, leaseMs }) {
      ensureOpen('renew');
      await whenUnlocked(() => renewHolds.run(now + leaseMs, id), busyTimeoutMs);
    },
    async read(key, metric, bucket, now) {
      ensureOpen('read');
      // A lost holder is charged before anyone reads the counter it held.
      if (anyLost.get(now)) await whenUnlocked(() => chargeLostTx.immediate(now), busyTimeoutMs);
      const { used, reserved } = current(key, metric, bucket, now);
      return { used: fromCounterUnits(metric, used), reserved: fromCounterUnits(metric, reserved) };
    },
    record(row, callId) {
      ensureOpen('record');
      // The late row of a call already recorded as lost: that row stands, once.
      if (callId !== undefined && wasCharged.get(callId)) return;
      ledger.record(row);
    },
    async ledger(query = {}) {
      ensureOpen('ledger');
      await whenUnlocked(() => ledger.flushSync(), busyTimeoutMs);
      return ledger.query(query);
    },
    async flush() {
      ensureOpen('flush');
      await whenUnlocked(() => ledger.flushSync(), busyTimeoutMs);
    },
    async close() {
      if (closed) return;
      closed = true;
      ledger.stop();
      stopExitFlush();
      try {
        await whenUnlocked(() => ledger.flushSync(), busyTimeoutMs);
      } finally {
        db.close();
      }
    },
  };
}
