/** The limits a call is held to: its rule's, as `decide` resolved them while their windows hold, and its runs' caps. */
import { resolveLimits, type ResolvedLimit } from '../policy/limits.js';
import type { CallState } from './call.js';
import { runLimits } from './run-limits.js';

/**
 * The limits a call is held to at `now`: its rule's and its runs' caps. The rule's are those
 * `decide` resolved while every one of their windows is still the one they were resolved in (the
 * same counters, so nothing to resolve again); after a window turned, or for a rolling window
 * (whose earlier steps are read into each resolution), they are resolved anew.
 */
export function callLimits(state: CallState, now: number): ResolvedLimit[] {
  const { rule, decision } = state;
  const ruled = rule === null ? [] : sameWindows(decision.limits, now) ? decision.limits : resolveLimits(rule, decision.context, now);
  return state.runs.length === 0 ? ruled : [...ruled, ...runLimits(state.runs, state.fields.account, now)];
}

function sameWindows(limits: readonly ResolvedLimit[], now: number): boolean {
  for (const l of limits) if (l.earlier !== undefined || now < l.bucket || (l.resetsAt !== null && now >= l.resetsAt)) return false;
  return true;
}
