import type { CounterCheck } from './types.js';

const METRICS = new Set(['requests', 'tokens', 'cost', 'concurrent']);

/**
 * Rejects checks that would silently corrupt a counter: a NaN amount poisons every later sum, and
 * a NaN max makes `current >= max` always false, which admits everything.
 */
export function assertValidChecks(checks: readonly CounterCheck[]): void {
  checks.forEach((check, index) => {
    const problem = !METRICS.has(check.metric)
      ? `metric ${JSON.stringify(check.metric)} is not one of requests, tokens, cost, concurrent`
      : !Number.isFinite(check.amount) || check.amount < 0
        ? `amount ${check.amount} must be a finite number >= 0`
        : Number.isNaN(check.max)
          ? 'max is NaN'
          : !Number.isFinite(check.bucket)
            ? `bucket ${check.bucket} must be a finite number`
            : undefined;
    if (problem) {
      throw new TypeError(`tokenlay: invalid counter check #${index} (key ${JSON.stringify(check.key)}): ${problem}.`);
    }
  });
}
