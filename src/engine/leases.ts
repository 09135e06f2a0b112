/**
 * Lease renewal for the reservations an engine holds: one timer for all of them instead of one
 * per call. Every held reservation is renewed each `max(1000, leaseMs / 2)` ms, as a timer of its
 * own would renew it, so a call held longer than its lease keeps it; a crashed process renews
 * nothing and its leases run out. The timer runs only while something is held.
 */
import type { CounterStore } from '../store/types.js';

export interface Leases {
  /** Renews `id` until {@link Leases.drop}. */
  hold(id: string): void;
  drop(id: string): void;
  /** Stops renewing everything (the engine is closed). */
  stop(): void;
}

export function leaseRenewal(store: Pick<CounterStore, 'renew'>, now: () => number, leaseMs: number): Leases {
  const held = new Set<string>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const renewAll = () => {
    // Idle: no timer until the next call holds something.
    if (held.size === 0) {
      clearInterval(timer);
      timer = undefined;
      return;
    }
    const at = now();
    for (const id of held) void store.renew(id, { now: at, leaseMs }).catch(() => {});
  };
  return {
    hold(id) {
      held.add(id);
      if (timer === undefined) {
        timer = setInterval(renewAll, Math.max(1000, leaseMs / 2));
        timer.unref();
      }
    },
    drop(id) {
      held.delete(id);
    },
    stop() {
      held.clear();
      clearInterval(timer);
      timer = undefined;
    },
  };
}
