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
  return { ...check, max: capUnits(check.max), amount: costUnits(check.amount) };
}

/** Actual usage with its cost in units. */
export function actualInUnits(actual: Actual): Actual {
  return { ...actual, cost: costUnits(actual.cost) };
}
