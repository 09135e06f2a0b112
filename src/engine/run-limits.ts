/**
 * Run budgets (`runWithTokenlay({ budget: { cost: 0.5 } }, fn)`): every call made in the run
 * carries the run's id and caps (`x-tokenlay-run-budget`), and each cap is one more counter in
 * the call's atomic reservation, so parallel calls of one run share it as they share a rule's limit.
 */
import { escapeKeyPart, type ResolvedLimit } from '../policy/limits.js';
import type { Rule } from '../policy/types.js';
import type { RunBudget } from '../protocol/run-budget.js';

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
