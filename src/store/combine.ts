import type { CounterStore, Ledger, LostRowSource, TokenlayStore } from './types.js';

/**
 * One store from two halves, e.g. counters in Redis and the ledger in Postgres: the engine and the
 * client take it like any other. `close()` closes both (the ledger first, so queued rows are
 * written); an object given as both halves is closed once. A counter store's `health()` (Redis)
 * stays reachable on the result, and a ledger's `health()` (Postgres) as `ledgerHealth()`, and so
 * does the counter store's `watchDataLoss()` (Redis), through which the engine rebuilds lost
 * counters; the rows of lost holders it charges go to `ledger`.
 */
export function combineStores(counters: CounterStore, ledger: Ledger): TokenlayStore {
  let closing: Promise<void> | undefined;
  // Counters that charge lost holders (Redis) record their rows in this ledger.
  (counters as Partial<LostRowSource>).sendLostRowsTo?.(ledger);
  const health = (counters as { health?: () => unknown }).health;
  const ledgerHealth = (ledger as { health?: () => unknown }).health;
  const watchDataLoss = (counters as { watchDataLoss?: (rebuilder: unknown) => void }).watchDataLoss;
  return {
    ...(typeof watchDataLoss === 'function' ? { watchDataLoss: (rebuilder: unknown) => watchDataLoss.call(counters, rebuilder) } : {}),
    ...(typeof health === 'function' ? { health: () => health.call(counters) } : {}),
    ...(typeof ledgerHealth === 'function' ? { ledgerHealth: () => ledgerHealth.call(ledger) } : {}),
    reserve: (checks, opts) => counters.reserve(checks, opts),
    settle: (id, actual) => counters.settle(id, actual),
    release: (id) => counters.release(id),
    renew: (id, opts) => counters.renew(id, opts),
    read: (key, metric, bucket, now) => counters.read(key, metric, bucket, now),
    record: (row, callId) => ledger.record(row, callId),
    ledger: (query) => ledger.ledger(query),
    flush: () => ledger.flush(),
    close() {
      closing ??= (async () => {
        try {
          await ledger.close();
        } finally {
          if ((counters as unknown) !== ledger) await counters.close();
        }
      })();
      return closing;
    },
  };
}
