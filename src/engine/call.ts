import type { Decision } from '../policy/evaluate.js';
import type { Rule } from '../policy/types.js';
import type { CallReport } from '../protocol/report.js';
import type { Estimate } from './admission.js';
import type { JsonBody } from './body.js';
import type { RunBudget } from '../protocol/run-budget.js';

/**
 * One call as it moves through the stages: what `decide` found, then what admission and the
 * provider changed (model, report, ledger action).
 */
export interface CallState {
  /** `performance.now()` at arrival, for durations. */
  started: number;
  /** The engine clock at arrival, for windows and the ledger. */
  startedAt: number;
  endpoint: string;
  /** The provider's base, for prices and messages. */
  hint: string;
  fields: Record<string, string>;
  body: JsonBody | undefined;
  requestedModel: string | undefined;
  /** The model named in the path (Gemini's own API), which the body must not repeat. */
  pathModel?: string | undefined;
  decision: Decision;
  rule: Rule | null;
  /** The model the call goes to now (a rule, a downgrade or a fallback may change it). */
  model: string | undefined;
  /** Tokens and cost reserved at admission. */
  estimate: Estimate;
  /** The report so far; usage is filled in by metering. */
  report: CallReport;
  /** The runs the call is made in (`x-tokenlay-run-budget`), outer first: their caps join the rule's limits. */
  runs: RunBudget[];
  /** How the ledger records the rule's outcome: allow, warn, queue, downgrade, block, refuse. */
  action: string;
}

/** The report with the duration so far. */
export function reportNow(state: CallState): CallReport {
  return { ...state.report, durationMs: performance.now() - state.started };
}
