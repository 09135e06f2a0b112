/**
 * The settle stage: the one place where a call's counters and its ledger row are written. Every
 * path out of a call (answered, refused, provider error, caller abort, stream end or cancel) ends
 * in {@link Settlement.settle}, and only its first call counts.
 */
import type { MeteredUsage } from '../metering/index.js';
import type { LedgerRow } from '../store/types.js';
import type { CallState } from './call.js';
import type { EngineContext } from './context.js';

/** How a call ended, as the ledger and the counters record it. */
export interface Outcome {
  /** The HTTP status the caller got (499 when the caller went away). */
  status: number;
  usage: MeteredUsage;
  /** USD. */
  cost: number;
  /** The model that answered, when known. */
  model: string | undefined;
  /** Whether the provider may have billed the call: charge the counters, else release the reservation. */
  billed: boolean;
}

/** A call's settlement, opened when it is admitted (or refused). */
export interface Settlement {
  /** Writes the counters and the ledger row; only the first call counts, later ones return the first's promise. */
  settle(outcome: Outcome): Promise<void>;
  /** The outcome once settled. */
  readonly outcome: Outcome | undefined;
}

function ledgerRow(state: CallState, outcome: Outcome): LedgerRow {
  return {
    time: state.startedAt,
    fields: state.fields,
    modelRequested: state.requestedModel ?? null,
    modelUsed: outcome.model ?? null,
    endpoint: state.endpoint,
    inputTokens: outcome.usage.inputTokens,
    outputTokens: outcome.usage.outputTokens,
    cachedTokens: outcome.usage.cachedTokens,
    cost: outcome.cost,
    ruleId: state.rule?.id ?? null,
    action: state.action,
    status: outcome.status,
    latencyMs: Math.round(performance.now() - state.started),
    estimated: outcome.usage.estimated,
  };
}

/**
 * Opens the settlement of a call holding `reservation` (null: it counts against nothing). While
 * open, the reservation's lease is renewed, so long calls and streams keep it; a crashed process
 * stops renewing and the lease runs out.
 */
export function openSettlement(ctx: EngineContext, state: CallState, reservation: string | null): Settlement {
  const { store } = ctx;
  const renew =
    reservation === null
      ? undefined
      : setInterval(() => void store.renew(reservation, { now: ctx.now(), leaseMs: ctx.leaseMs }).catch(() => {}), Math.max(1000, ctx.leaseMs / 2));
  renew?.unref();
  let done: Promise<void> | undefined;
  let outcome: Outcome | undefined;

  return {
    get outcome() {
      return outcome;
    },
    settle(how: Outcome): Promise<void> {
      if (done) return done;
      outcome = how;
      clearInterval(renew);
      const used = how.usage;
      const counters =
        reservation === null
          ? Promise.resolve()
          : how.billed
            ? store.settle(reservation, { requests: 1, tokens: used.inputTokens + used.outputTokens, cost: how.cost })
            : store.release(reservation);
      done = counters.then(() => {
        const row = ledgerRow(state, how);
        store.record(row);
        ctx.onLedger?.(row);
      });
      ctx.track(done);
      return done;
    },
  };
}
