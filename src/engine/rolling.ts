/**
 * Rolling windows (`last_24h`, `last_30d`) on the counter contract as it is: the call reserves on
 * the current step's counter with a max lowered by what the earlier steps hold. Earlier steps only
 * ever shrink (no call reserves in the past; a call in flight settles at or below its
 * reservation), so reading them before the atomic reserve can only overstate the usage: the cap
 * holds.
 */
import { counterMetric, type ResolvedLimit } from '../policy/limits.js';
import type { CounterStore } from '../store/types.js';

/** Reads the earlier steps of each rolling limit into its `prior` (used and reserved), in parallel. */
export async function readPrior(store: Pick<CounterStore, 'read'>, limits: ResolvedLimit[], now: number): Promise<void> {
  // Fixed windows only (most rules): nothing to read, no promise per limit.
  if (!limits.some((l) => l.earlier !== undefined && l.earlier.length > 0)) return;
  await Promise.all(
    limits.map(async (l) => {
      if (!l.earlier || l.earlier.length === 0) return;
      const steps = await Promise.all(l.earlier.map((b) => store.read(l.key, counterMetric(l.limit.type), b, now)));
      l.prior = steps.reduce((sum, s) => sum + s.used + s.reserved, 0);
    }),
  );
}

/**
 * When a rolling limit next frees room: the end of the oldest step that holds usage leaving the
 * window. For a fixed window, its reset. Reads the store for a rolling limit with earlier usage.
 */
export async function nextRelease(store: Pick<CounterStore, 'read'>, l: ResolvedLimit, now: number): Promise<number | null> {
  if (!l.earlier || l.earlier.length === 0 || l.resetsAt === null) return l.resetsAt;
  const span = l.resetsAt - l.bucket;
  for (let i = l.earlier.length - 1; i >= 0; i--) {
    const b = l.earlier[i]!;
    const { used, reserved } = await store.read(l.key, counterMetric(l.limit.type), b, now);
    if (used + reserved > 0) return b + span;
  }
  return l.resetsAt;
}
