import type { CounterStore, Ledger, TokenlayStore } from './types.js';

/**
 * One {@link TokenlayStore} from a counter store and a ledger, e.g. Redis counters with a Postgres
 * ledger. `close()` flushes and closes the ledger, then the counters; an object given as both
 * halves is closed once.
 */
export function composeStore(counters: CounterStore, ledger: Ledger): TokenlayStore {
  let closing: Promise<void> | undefined;
  const health = (counters as { health?: () => unknown }).health;
  return {
    // The Redis store's availability, for a health endpoint or a metric.
    ...(typeof health === 'function' ? { health: () => health.call(counters) } : {}),
    reserve: (checks, opts) => counters.reserve(checks, opts),
    settle: (id, actual) => counters.settle(id, actual),
    release: (id) => counters.release(id),
    renew: (id, opts) => counters.renew(id, opts),
    read: (key, metric, bucket, now) => counters.read(key, metric, bucket, now),
    record: (row) => ledger.record(row),
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
