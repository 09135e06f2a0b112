import { storeClosedError } from './closed-error.js';
import { copyLedgerRow, matchesLedgerQuery } from './ledger-filter.js';
import { lostRow } from './lost-row.js';
import { capUnits, costUnits, roundUsd } from './money.js';
import { settledAmount } from './settle-amount.js';
import type {
  Actual,
  CounterCheck,
  CounterReading,
  LedgerQuery,
  LedgerRow,
  Metric,
  ReserveResult,
  TokenlayStore,
} from './types.js';
import { fromCounterUnits, toCounterUnits } from './units.js';
import { assertValidChecks } from './validate.js';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * How long the store remembers a reservation it charged as lost (its lease ran out), so that a
   * late `settleWithRow` of that call adds no second row. Default 24 h.
   */
  settleGraceMs?: number;
  /** Ledger rows kept; the oldest are dropped beyond it (the memory store is not an archive). Default 100 000. */
  maxLedgerRows?: number;
}

interface Counter {
  used: number;
  expiresAt: number | null;
}

interface Hold {
  counterId: string;
  key: string;
  bucket: number;
  metric: Metric;
  amount: number;
  expiresAt: number | null;
}

interface Reservation {
  leaseUntil: number;
  holds: Hold[];
  /** The row recorded if the holder is lost. */
  lost: LedgerRow | undefined;
}

const DAY_MS = 86_400_000;
// Sweeping walks every counter and reservation, so do it at most this often (in the callers' clock).
const SWEEP_EVERY_MS = 10_000;

function counterId(key: string, metric: Metric, bucket: number): string {
  return `${metric}\u0000${bucket}\u0000${key}`;
}

/**
 * A store that lives in this process's memory: for tests, development, and single-process apps
 * that accept losing counters on restart. JavaScript runs one callback at a time and every method
 * does its whole read-check-write without awaiting, so each method is atomic by construction.
 */
export function createMemoryStore(opts: MemoryStoreOptions = {}): TokenlayStore {
  const settleGraceMs = opts.settleGraceMs ?? DAY_MS;
  const maxLedgerRows = opts.maxLedgerRows ?? 100_000;

  const counters = new Map<string, Counter>();
  const reservations = new Map<string, Reservation>();
  // counter id → reservations holding it, so a check sums only its own counter's holds.
  const holdsByCounter = new Map<string, Map<string, Reservation>>();
  let ledgerRows: LedgerRow[] = [];
  // Reservations charged as lost, by id → when, so that a late settlement adds nothing.
  const charged = new Map<string, number>();
  let nextSweepAt = -Infinity;
  // No lease ends before this: checking for lost holders is free until then.
  let earliestLease = Infinity;
  let closed = false;

  function ensureOpen(method: string): void {
    if (closed) throw storeClosedError('memory', method);
  }

  function usedAt(id: string, now: number): number {
    const counter = counters.get(id);
    if (!counter) return 0;
    return counter.expiresAt !== null && counter.expiresAt <= now ? 0 : counter.used;
  }

  function reservedAt(id: string, now: number): number {
    const holders = holdsByCounter.get(id);
    if (!holders) return 0;
    let sum = 0;
    for (const reservation of holders.values()) {
      if (reservation.leaseUntil <= now) continue;
      for (const hold of reservation.holds) if (hold.counterId === id) sum += hold.amount;
    }
    return sum;
  }

  function forget(resId: string): Reservation | undefined {
    const reservation = reservations.get(resId);
    if (!reservation) return undefined;
    reservations.delete(resId);
    for (const hold of reservation.holds) {
      const holders = holdsByCounter.get(hold.counterId);
      holders?.delete(resId);
      if (holders?.size === 0) holdsByCounter.delete(hold.counterId);
    }
    return reservation;
  }

  function addUsed(hold: Hold, amount: number): void {
    if (amount === 0) return;
    const counter = counters.get(hold.counterId);
    if (counter) counter.used += amount;
    else counters.set(hold.counterId, { used: amount, expiresAt: hold.expiresAt });
  }

  /** Charges every reservation whose lease ran out at what it reserved, and records its row. */
  function chargeLost(now: number): void {
    if (now < earliestLease) return;
    earliestLease = Infinity;
    for (const [id, reservation] of reservations) {
      if (reservation.leaseUntil > now) {
        earliestLease = Math.min(earliestLease, reservation.leaseUntil);
        continue;
      }
      forget(id);
      charged.set(id, now);
      for (const hold of reservation.holds) if (hold.metric !== 'concurrent') addUsed(hold, hold.amount);
      if (reservation.lost) record(lostRow(reservation.lost));
    }
  }

  function sweep(now: number): void {
    chargeLost(now);
    if (now < nextSweepAt) return;
    nextSweepAt = now + SWEEP_EVERY_MS;
    for (const [id, at] of charged) if (at + settleGraceMs <= now) charged.delete(id);
    for (const [id, counter] of counters) {
      if (counter.expiresAt !== null && counter.expiresAt <= now) counters.delete(id);
    }
  }

  function record(row: LedgerRow): void {
    ledgerRows.push({ ...copyLedgerRow(row), cost: roundUsd(row.cost) });
    // Trim in steps of a tenth so the copy happens once per many rows, not on every row.
    if (ledgerRows.length > maxLedgerRows + Math.ceil(maxLedgerRows / 10)) {
      ledgerRows = ledgerRows.slice(ledgerRows.length - maxLedgerRows);
    }
  }

  function settle(id: string, actual: Actual): Reservation | undefined {
    const reservation = forget(id);
    if (!reservation) return undefined;
    const cost = costUnits(actual.cost);
    for (const hold of reservation.holds) addUsed(hold, hold.metric === 'cost' ? cost : settledAmount(hold.metric, actual));
    return reservation;
  }

  /** A counter's state in the engine's units (USD for cost). */
  function state(id: string, metric: Metric, now: number) {
    return { used: fromCounterUnits(metric, usedAt(id, now)), reserved: fromCounterUnits(metric, reservedAt(id, now)) };
  }

  return {
    async reserve(checks: CounterCheck[], { now, leaseMs, lost }): Promise<ReserveResult> {
      ensureOpen('reserve');
      assertValidChecks(checks);
      sweep(now);
      const ids = checks.map((c) => counterId(c.key, c.metric, c.bucket));
      for (let index = 0; index < checks.length; index++) {
        const used = usedAt(ids[index], now);
        const reserved = reservedAt(ids[index], now);
        const m = checks[index].metric;
        if (used + reserved >= (m === 'cost' ? capUnits(checks[index].max) : checks[index].max)) {
          return { ok: false, index, current: fromCounterUnits(m, used + reserved), used: fromCounterUnits(m, used), reserved: fromCounterUnits(m, reserved) };
        }
      }
      const id = globalThis.crypto.randomUUID();
      const reservation: Reservation = {
        leaseUntil: now + leaseMs,
        holds: checks.map((c, i) => ({ counterId: ids[i], key: c.key, bucket: c.bucket, metric: c.metric, amount: toCounterUnits(c.metric, c.amount), expiresAt: c.expiresAt })),
        lost: lost ? copyLedgerRow(lost) : undefined,
      };
      earliestLease = Math.min(earliestLease, reservation.leaseUntil);
      reservations.set(id, reservation);
      for (const counter of ids) {
        let holders = holdsByCounter.get(counter);
        if (!holders) holdsByCounter.set(counter, (holders = new Map()));
        holders.set(id, reservation);
      }
      return { ok: true, id };
    },

    async settle(id: string, actual: Actual): Promise<void> {
      ensureOpen('settle');
      settle(id, actual);
    },

    async release(id: string): Promise<void> {
      ensureOpen('release');
      forget(id);
    },

    async settleWithRow(id: string, actual: Actual | null, row: LedgerRow, now?: number): Promise<CounterReading[] | undefined> {
      ensureOpen('settleWithRow');
      // One synchronous run: nothing else can happen between the counters and the row.
      if (charged.has(id)) return undefined;
      const settled = actual ? settle(id, actual) : forget(id);
      record(row);
      if (now === undefined || !settled) return undefined;
      chargeLost(now);
      return settled.holds.map((hold) => ({ key: hold.key, metric: hold.metric, bucket: hold.bucket, ...state(hold.counterId, hold.metric, now) }));
    },

    async renew(id: string, { now, leaseMs }): Promise<void> {
      ensureOpen('renew');
      const reservation = reservations.get(id);
      if (reservation) reservation.leaseUntil = Math.max(reservation.leaseUntil, now + leaseMs);
    },

    async read(key: string, metric: Metric, bucket: number, now: number) {
      ensureOpen('read');
      chargeLost(now);
      return state(counterId(key, metric, bucket), metric, now);
    },

    record(row: LedgerRow, callId?: string): void {
      ensureOpen('record');
      // The late row of a call already recorded as lost: that row stands, once.
      if (callId !== undefined && charged.has(callId)) return;
      record(row);
    },

    async ledger(query: LedgerQuery = {}): Promise<LedgerRow[]> {
      ensureOpen('ledger');
      // Calls are recorded when they end, not in the order they started; sort is stable for ties.
      const matching = ledgerRows.filter((row) => matchesLedgerQuery(row, query)).sort((a, b) => a.time - b.time);
      const limited = query.limit !== undefined ? matching.slice(Math.max(0, matching.length - query.limit)) : matching;
      return limited.map(copyLedgerRow);
    },

    async flush(): Promise<void> {
      ensureOpen('flush');
    },

    async close(): Promise<void> {
      closed = true;
    },
  };
}
