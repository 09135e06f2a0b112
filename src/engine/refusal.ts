import type { TokenlayHeaderError } from '../errors.js';
import type { ResolvedLimit } from '../policy/limits.js';
import type { ModelProblem } from '../policy/model.js';
import type { Rule } from '../policy/types.js';

/**
 * Why a call was not sent to the provider. Stages return one; only the answer stage turns it into
 * an HTTP response (see `answer.ts`).
 */
export type Refusal =
  /** An attribution header over the protocol's limits (docs/protocol.md §1): 400, no ledger row. */
  | { kind: 'bad-attribution'; error: TokenlayHeaderError }
  /** An `x-tokenlay-run-budget` header that cannot be read: 400, so that a cap is never ignored. */
  | { kind: 'bad-run-budget'; message: string }
  /** A rule whose action is `block`: 403 unless the rule says. */
  | { kind: 'rule-block'; rule: Rule }
  /** The model is not a usable name (`invalid_model`, no ledger row) or is missing with no rule to route it (`model_required`): 400. */
  | { kind: 'bad-model'; problem: ModelProblem }
  /** The model has no price and unpriced models are refused: 400. */
  | { kind: 'model-not-priced'; message: string }
  /** A limit is full (§3): 429 unless the rule says; `queue` when the call waited first. */
  | { kind: 'limit'; rule: Rule; limit: ResolvedLimit; current: number; now: number; ruleAction: 'block' | 'queue' }
  /** The store could not be read or written before the call was sent: 503, retryable (nothing was spent). */
  | { kind: 'store-unavailable'; detail: string };

/** The action a refusal is recorded under in the ledger. */
export function refusalAction(refusal: Refusal): string {
  switch (refusal.kind) {
    case 'rule-block':
      return 'block';
    case 'limit':
      return refusal.ruleAction;
    default:
      return 'refuse';
  }
}
