import { capUnits, costUnits, usdOf } from './money.js';
import type { Actual, CounterCheck, Metric } from './types.js';

/**
 * The engine→store boundary of money: the engine gives costs in USD, the counters keep whole
 * 1e-10 USD units (see `money.ts`). Other metrics are counts and pass unchanged.
 */
export function toCounterUnits(metric: Metric, value: number): number {
  return metric === 'cost' ? costUnits(value) : value;
}

/** A counter value back to the engine's unit (USD for cost). */
export function fromCounterUnits(metric: Metric, value: number): number {
  return metric === 'cost' ? usdOf(value) : value;
}

/** A check with its cost max and amount in units. */
export function checkInUnits(check: CounterCheck): CounterCheck {
  if (check.metric !== 'cost') return check;
  // Named fields, not a spread: this runs for every cost limit of every call.
  return { key: check.key, metric: check.metric, bucket: check.bucket, expiresAt: check.expiresAt, max: capUnits(check.max), amount: costUnits(check.amount) };
}

/** Actual usage with its cost in units. */
export function actualInUnits(actual: Actual): Actual {
  return { requests: actual.requests, tokens: actual.tokens, cost: costUnits(actual.cost) };
}
