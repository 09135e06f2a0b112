import type { Actual, Metric } from './types.js';

/**
 * How much a settled call adds to a counter of `metric`. `concurrent` counts calls in flight, so
 * a finished call adds nothing: settling only drops its reservation.
 */
export function settledAmount(metric: Metric, actual: Actual): number {
  switch (metric) {
    case 'requests':
      return actual.requests;
    case 'tokens':
      return actual.tokens;
    case 'cost':
      return actual.cost;
    case 'concurrent':
      return 0;
  }
}
