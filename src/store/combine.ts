import type { CounterStore, Ledger, TokenlayStore } from './types.js';

/**
 * One store from two halves, e.g. counters in Redis and the ledger in Postgres: the engine and the
 * client take it like any other. `close()` closes both (the ledger first, so queued rows are written).
 */
export function combineStores(counters: CounterStore, ledger: Ledger): TokenlayStore {
  return {
    reserve: (checks, opts) => counters.reserve(checks, opts),
    settle: (id, actual) => counters.settle(id, actual),
    release: (id) => counters.release(id),
    renew: (id, opts) => counters.renew(id, opts),
    read: (key, metric, bucket, now) => counters.read(key, metric, bucket, now),
    record: (row) => ledger.record(row),
    ledger: (query) => ledger.ledger(query),
    flush: () => ledger.flush(),
    async close() {
      try {
        await ledger.close();
      } finally {
        await counters.close();
      }
    },
  };
}
