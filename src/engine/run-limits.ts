/**
 * Run budgets (`runWithTokenlay({ budget: { cost: 0.5 } }, fn)`): every call made in the run
 * carries the run's id and caps (`x-tokenlay-run-budget`), and each cap is one more counter in
 * the call's atomic reservation, so parallel calls of one run share it as they share a rule's limit.
 */
import { escapeKeyPart, resolveLimits, type ResolvedLimit } from '../policy/limits.js';
import type { Rule } from '../policy/types.js';
import type { RunBudget } from '../protocol/run-budget.js';
import type { CallState } from './call.js';

/** How long a run's counters are kept after its first call (ms): a run is one piece of work, not a billing period. */
export const RUN_KEEP_MS = 7 * 86_400_000;

/** The rule a run's refusal is answered under: it always blocks (a warning or a downgrade would pass the cap). */
export const RUN_RULE: Rule = { id: 'run', priority: 0, if: {}, then: { on_limit_exceeded: { action: 'block', error_code: 'run_budget_exceeded' } } };

/**
 * The counters of a call's runs. The account (the gateway's `account` field) is part of the key, so
 * a run id sent by one account never draws on another's run.
 */
export function runLimits(runs: readonly RunBudget[], account: string | undefined, now: number): ResolvedLimit[] {
  const out: ResolvedLimit[] = [];
  for (const run of runs) {
    for (const type of ['cost', 'tokens', 'requests'] as const) {
      const max = run[type];
      if (max === undefined) continue;
      out.push({
        limit: { type, max, window: 'total', per: ['run'] },
        index: -1,
        key: `run|${escapeKeyPart(account ?? '-')}|${escapeKeyPart(run.id)}`,
        scope: `run=${run.id}`,
        bucket: 0,
        resetsAt: now + RUN_KEEP_MS,
        run: run.id,
      });
    }
  }
  return out;
}

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
