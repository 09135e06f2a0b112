import { randomUUID } from 'node:crypto';
import { storeClosedError } from './closed-error.js';
import { copyLedgerRow, matchesLedgerQuery } from './ledger-filter.js';
import { settledAmount } from './settle-amount.js';
import type {
  Actual,
  CounterCheck,
  LedgerQuery,
  LedgerRow,
  Metric,
  ReserveResult,
  TokenlayStore,
} from './types.js';
import { assertValidChecks } from './validate.js';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * How long a reservation is kept after its lease ran out, so that a late `settle` still knows
   * which counters to charge. It no longer counts against limits during that time. Default 24 h.
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
  metric: Metric;
  amount: number;
  expiresAt: number | null;
}

interface Reservation {
  leaseUntil: number;
  holds: Hold[];
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
  let nextSweepAt = -Infinity;
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

  function sweep(now: number): void {
    if (now < nextSweepAt) return;
    nextSweepAt = now + SWEEP_EVERY_MS;
    for (const [id, reservation] of reservations) {
      if (reservation.leaseUntil + settleGraceMs <= now) forget(id);
    }
    for (const [id, counter] of counters) {
      if (counter.expiresAt !== null && counter.expiresAt <= now) counters.delete(id);
    }
  }

  return {
    async reserve(checks: CounterCheck[], { now, leaseMs }): Promise<ReserveResult> {
      ensureOpen('reserve');
      assertValidChecks(checks);
      sweep(now);
      const ids = checks.map((c) => counterId(c.key, c.metric, c.bucket));
      for (let index = 0; index < checks.length; index++) {
        const used = usedAt(ids[index], now);
        const reserved = reservedAt(ids[index], now);
        if (used + reserved >= checks[index].max) {
          return { ok: false, index, current: used + reserved, used, reserved };
        }
      }
      const id = randomUUID();
      const reservation: Reservation = {
        leaseUntil: now + leaseMs,
        holds: checks.map((c, i) => ({ counterId: ids[i], metric: c.metric, amount: c.amount, expiresAt: c.expiresAt })),
      };
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
      const reservation = forget(id);
      if (!reservation) return;
      for (const hold of reservation.holds) {
        const amount = settledAmount(hold.metric, actual);
        if (amount === 0) continue;
        const counter = counters.get(hold.counterId);
        if (counter) counter.used += amount;
        else counters.set(hold.counterId, { used: amount, expiresAt: hold.expiresAt });
      }
    },

    async release(id: string): Promise<void> {
      ensureOpen('release');
      forget(id);
    },

    async settleWithRow(id: string, actual: Actual | null, row: LedgerRow): Promise<void> {
      ensureOpen('settleWithRow');
      // One synchronous run: nothing else can happen between the counters and the row.
      if (actual) await this.settle(id, actual);
      else forget(id);
      this.record(row);
    },

    async renew(id: string, { now, leaseMs }): Promise<void> {
      ensureOpen('renew');
      const reservation = reservations.get(id);
      if (reservation) reservation.leaseUntil = Math.max(reservation.leaseUntil, now + leaseMs);
    },

    async read(key: string, metric: Metric, bucket: number, now: number) {
      ensureOpen('read');
      const id = counterId(key, metric, bucket);
      return { used: usedAt(id, now), reserved: reservedAt(id, now) };
    },

    record(row: LedgerRow): void {
      ensureOpen('record');
      ledgerRows.push(copyLedgerRow(row));
      // Trim in steps of a tenth so the copy happens once per many rows, not on every row.
      if (ledgerRows.length > maxLedgerRows + Math.ceil(maxLedgerRows / 10)) {
        ledgerRows = ledgerRows.slice(ledgerRows.length - maxLedgerRows);
      }
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
