import type { TokenlayStore } from '../store/types.js';

/**
 * The store with every failed operation told to `onError` (for `/metrics`), then rethrown as it
 * was: the engine's own handling of store failures is unchanged.
 */
export function instrumentStore(store: TokenlayStore, onError: (operation: string, error: unknown) => void): TokenlayStore {
  const wrap =
    <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      fn(...args).catch((error: unknown) => {
        onError(operation, error);
        throw error;
      });
  const watchDataLoss = (store as { watchDataLoss?: (rebuilder: unknown) => void }).watchDataLoss;
  return {
    // The engine registers its counter rebuilder through it (Redis losing its data).
    ...(typeof watchDataLoss === 'function' ? { watchDataLoss: (rebuilder: unknown) => watchDataLoss.call(store, rebuilder) } : {}),
    reserve: wrap('reserve', store.reserve.bind(store)),
    settle: wrap('settle', store.settle.bind(store)),
    release: wrap('release', store.release.bind(store)),
    renew: wrap('renew', store.renew.bind(store)),
    read: wrap('read', store.read.bind(store)),
    ledger: wrap('ledger', store.ledger.bind(store)),
    flush: wrap('flush', store.flush.bind(store)),
    close: wrap('close', store.close.bind(store)),
    // Counters and row in one transaction where the store can: a crash keeps both or neither.
    ...(store.settleWithRow ? { settleWithRow: wrap('settle', store.settleWithRow.bind(store)) } : {}),
    record(row, callId) {
      try {
        store.record(row, callId);
      } catch (error) {
        onError('record', error);
        throw error;
      }
    },
  };
}
