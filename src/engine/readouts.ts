import { escapeKeyPart, MISSING_VALUE } from '../policy/limits.js';
import { usageObject, type UsageReadout } from '../policy/usage.js';
import { windowBounds } from '../policy/windows.js';
import type { CounterCheck, CounterStore } from '../store/types.js';
import type { Estimate } from './admission.js';

// Rule keys start with an escaped rule id, which never holds "(": these keys cannot collide.
const PREFIX = '(usage)';

function keyOf(readout: UsageReadout, user: string | undefined): string {
  return `${PREFIX}|${readout.metric}|${readout.window}|user=${user === undefined ? MISSING_VALUE : escapeKeyPart(user)}`;
}

function bucketOf(readout: UsageReadout, now: number): { bucket: number; expiresAt: number | null } {
  // Calls in flight are counted without a window, as for a concurrency limit.
  const bounds = windowBounds(readout.metric === 'concurrent' ? 'total' : readout.window, now);
  return { bucket: bounds.start, expiresAt: bounds.resetsAt };
}

/**
 * The `usage` object for conditions: the calling user's settled usage per read-out, or for
 * `concurrent` the user's calls in flight (live reservations).
 */
export async function readUsage(store: CounterStore, readouts: UsageReadout[], user: string | undefined, now: number): Promise<Record<string, unknown>> {
  const values = await Promise.all(
    readouts.map(async (readout) => {
      const { bucket } = bucketOf(readout, now);
      const { used, reserved } = await store.read(keyOf(readout, user), readout.metric, bucket, now);
      return { readout, value: readout.metric === 'concurrent' ? reserved : used };
    }),
  );
  return usageObject(values);
}

/** Counted-only checks that keep the read-outs up to date; they never refuse a call. */
export function readoutChecks(readouts: UsageReadout[], user: string | undefined, now: number, estimate: Estimate): CounterCheck[] {
  return readouts.map((readout) => ({
    key: keyOf(readout, user),
    metric: readout.metric,
    ...bucketOf(readout, now),
    max: Infinity,
    amount: readout.metric === 'tokens' ? estimate.tokens : readout.metric === 'cost' ? estimate.cost : 1,
  }));
}
