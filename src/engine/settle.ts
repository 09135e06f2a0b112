/**
 * The settle stage: the one place where a call's counters and its ledger row are written. Every
 * path out of a call (answered, refused, provider error, caller abort, stream end or cancel,
 * shutdown) ends in {@link Settlement.settle}, and only its first call counts.
 *
 * A store error here never fails the call: the provider has answered. The counters are retried in
 * the background with backoff (the row kept in memory meanwhile), and a final failure is reported
 * once, with the call's counts.
 */
import type { MeteredUsage } from '../metering/index.js';
import { roundUsd } from '../store/money.js';
import type { CounterReading, LedgerRow } from '../store/types.js';
import type { CallState } from './call.js';
import { Waited } from './clock.js';
import type { EngineContext } from './context.js';
import { reportAfterAnswer } from './report-error.js';

/** How a call ended, as the ledger and the counters record it. */
export interface Outcome {
  /** The HTTP status the caller got (499 when the caller went away). */
  status: number;
  usage: MeteredUsage;
  /** USD. */
  cost: number;
  /** The model that answered, when known. */
  model: string | undefined;
  /** Whether the provider may have billed the call: its tokens and cost count on the counters. */
  billed: boolean;
  /**
   * Whether the call reached the provider, whatever it answered (a 400 too): it counts one on
   * requests limits, as the provider's own rate limits count it. A billed call has reached it.
   * Neither: the reservation is released.
   */
  reached?: boolean;
}

/** A call's settlement, opened when it is admitted (or refused). */
export interface Settlement {
  /**
   * Writes the counters and the ledger row; only the first call counts, later ones return the
   * first's promise. Never rejects: it resolves once the first attempt is done, and a failed
   * attempt goes on in the background.
   */
  settle(outcome: Outcome): Promise<void>;
  /** The outcome once settled. */
  readonly outcome: Outcome | undefined;
  /**
   * The counters the call held as the store left them once it was settled, when the store said
   * (its `settleWithRow` reads them in the same step): what the budget read-out needs.
   */
  readonly counters: readonly CounterReading[] | undefined;
}

/** First retry delay of a failed settlement; it doubles up to {@link RETRY_MAX_DELAY_MS}. */
const RETRY_FIRST_DELAY_MS = 50;
const RETRY_MAX_DELAY_MS = 2000;

function ledgerRow(state: CallState, outcome: Outcome): LedgerRow {
  return {
    time: state.startedAt,
    fields: state.fields,
    // A call that no model answered (refused, or failed) and named none is recorded under the model
    // its rule routed it to, so usage by model groups it there and not under none.
    modelRequested: (outcome.model === undefined ? (state.requestedModel ?? state.decision.model) : state.requestedModel) ?? null,
    modelUsed: outcome.model ?? null,
    endpoint: state.endpoint,
    inputTokens: outcome.usage.inputTokens,
    outputTokens: outcome.usage.outputTokens,
    cachedTokens: outcome.usage.cachedTokens,
    // On the 1e-10 USD grid the stores keep: logs and metrics show what the ledger holds.
    cost: roundUsd(outcome.cost),
    ruleId: state.rule?.id ?? null,
    action: state.action,
    status: outcome.status,
    latencyMs: Math.round(performance.now() - state.started),
    estimated: outcome.usage.estimated,
    ...(outcome.usage.estimated && outcome.usage.estimateReason !== undefined ? { estimateReason: outcome.usage.estimateReason } : {}),
  };
}

function describeCall(row: LedgerRow): string {
  const who = Object.entries(row.fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${row.endpoint} ${who || '(no fields)'} status ${row.status}: ${row.inputTokens} input and ${row.outputTokens} output tokens, $${row.cost}`;
}

/**
 * Opens the settlement of a call holding `reservation` (null: it counts against nothing). While
 * open, the reservation's lease is renewed, so long calls and streams keep it; a crashed process
 * stops renewing and the lease runs out. `onSettled` is told once the counters are written.
 */
export function openSettlement(ctx: EngineContext, state: CallState, reservation: string | null, onSettled?: () => void): Settlement {
  const { store } = ctx;
  if (reservation !== null) ctx.leases.hold(reservation);
  let done: Promise<void> | undefined;
  let outcome: Outcome | undefined;
  let counters: CounterReading[] | undefined;

  let rowRecorded = false;
  const record = (row: LedgerRow, written = false) => {
    try {
      if (!written) store.record(row, reservation ?? undefined);
    } catch (error) {
      reportAfterAnswer(`the ledger row of ${describeCall(row)} could not be recorded`, error);
    }
    try {
      ctx.onLedger?.(row);
    } catch (error) {
      reportAfterAnswer('onLedger threw', error);
    }
  };

  /** Writes the counters, and the row with them when the store can; resolves whether the row was written. */
  const writeCounters = (how: Outcome, row: LedgerRow): Promise<boolean> => {
    if (reservation === null) return Promise.resolve(false);
    const used = how.usage;
    // Requests count every call the provider got; tokens and cost only what it billed.
    const actual = how.billed ? { requests: 1, tokens: used.inputTokens + used.outputTokens, cost: how.cost } : how.reached ? { requests: 1, tokens: 0, cost: 0 } : null;
    // A store that throws synchronously is handled like one that rejects.
    return Promise.resolve().then(async () => {
      if (store.settleWithRow) {
        counters = (await store.settleWithRow(reservation, actual, row, ctx.now())) ?? undefined;
        return true;
      }
      // Counters and ledger in different systems (Redis and Postgres): the row first, once. A
      // durable ledger spools it at once, so a crash during the counters' round trip leaves the
      // call in the ledger (its reservation then expires) rather than counted nowhere.
      if (!rowRecorded) {
        rowRecorded = true;
        try {
          store.record(row, reservation);
        } catch (error) {
          reportAfterAnswer(`the ledger row of ${describeCall(row)} could not be recorded`, error);
        }
      }
      await (actual ? store.settle(reservation, actual) : store.release(reservation));
      return true;
    });
  };

  const retry = async (how: Outcome, row: LedgerRow, first: unknown): Promise<void> => {
    // On the engine's clock, so that a test moves time instead of waiting for it.
    const retrying = new Waited(ctx.now, ctx.settleRetryMs);
    let delay = RETRY_FIRST_DELAY_MS;
    let last = first;
    while (retrying.left > 0) {
      await retrying.step(ctx.sleep, delay);
      delay = Math.min(delay * 2, RETRY_MAX_DELAY_MS);
      try {
        record(row, await writeCounters(how, row));
        return;
      } catch (error) {
        last = error;
      }
    }
    reportAfterAnswer(`settling ${describeCall(row)} failed for ${ctx.settleRetryMs} ms; its counters were not updated`, last);
    record(row, rowRecorded);
  };

  return {
    get outcome() {
      return outcome;
    },
    get counters() {
      return counters;
    },
    settle(how: Outcome): Promise<void> {
      if (done) return done;
      outcome = how;
      if (reservation !== null) ctx.leases.drop(reservation);
      const row = ledgerRow(state, how);
      done = writeCounters(how, row).then(
        (written) => {
          record(row, written);
          onSettled?.();
        },
        (error: unknown) => {
          ctx.track(retry(how, row, error));
          onSettled?.();
        },
      );
      ctx.track(done);
      return done;
    },
  };
}
