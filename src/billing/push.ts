import { classify, NO_CUSTOMER, UNPRICED, type BillingPlan } from './classify.js';
import { BillingError, type BillableRow, type BillingLedger, type Destination, type HeldRow, type PushedRow, type UsageEvent } from './types.js';

/** Options of {@link pushLedger}. */
export interface PushOptions {
  /** Ledger rows read, sent and committed together. Default 100. */
  batchSize?: number;
  /** Tries of one batch when the destination asks to wait (429, 5xx, no answer). Default 5. */
  attempts?: number;
  /** First wait between tries, ms, doubled each time. Default 1000. */
  backoffMs?: number;
  /** Told after each committed batch. */
  onBatch?: (batch: { pushed: number; held: number; cursor: number }) => void;
  /** Stops between batches. */
  signal?: AbortSignal;
  /**
   * Looks again at the rows held back before, and sends those that are billable now (their model
   * got a price, their user a customer). Default true.
   */
  releaseHeld?: boolean;
}

/** What one {@link pushLedger} run did. */
export interface PushReport {
  destination: string;
  /** Rows the destination accepted in this run. */
  pushed: number;
  /** Rows held back in this run (unpriced models, no customer, too old for the destination). */
  held: HeldRow[];
  /** Rows held back by an earlier run and sent in this one: what held them was fixed since. */
  released: number;
  /** Rows held back by an earlier run that are still held (looked at only with `releaseHeld`). */
  stillHeld: HeldRow[];
  /** Rows with nothing to bill (refused by a rule before any provider saw them). */
  skipped: number;
  batches: number;
  /** The cursor after the run: the position of the last row dealt with. */
  cursor: number;
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind either way. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Sends the ledger rows after `destination`'s cursor, a batch at a time, until none are left. A
 * batch's cursor moves (with the record of what was accepted and held) only after the destination
 * accepted every event in it; a crash before that sends the batch again, and the destination's
 * deduplication on the ledger row's id (Stripe's `identifier`, the CloudEvents `id`) bills each
 * row once.
 * @throws {BillingError} when the destination refuses a batch for good, or still asks to wait after `attempts` tries.
 */
export async function pushLedger(ledger: BillingLedger, destination: Destination, plan: BillingPlan, opts: PushOptions = {}): Promise<PushReport> {
  const batchSize = opts.batchSize ?? 100;
  const report: PushReport = { destination: destination.name, pushed: 0, held: [], released: 0, stillHeld: [], skipped: 0, batches: 0, cursor: await ledger.cursor(destination.name) };
  if (opts.releaseHeld ?? true) await releaseHeld(ledger, destination, plan, batchSize, opts, report);
  while (!opts.signal?.aborted) {
    const rows = await ledger.rowsAfter(report.cursor, batchSize);
    if (rows.length === 0) break;
    const { events, held } = sendable(rows, destination, plan);
    if (events.length > 0) await sendWithRetries(destination, events, opts);
    const to = rows[rows.length - 1]!.position;
    const pushed: PushedRow[] = events.map((e) => ({ id: e.id, customer: e.customer, value: e.value, time: e.time }));
    await ledger.advance(destination.name, to, pushed, held);
    report.pushed += pushed.length;
    report.held.push(...held);
    report.skipped += rows.length - events.length - held.length;
    report.batches += 1;
    report.cursor = to;
    opts.onBatch?.({ pushed: pushed.length, held: held.length, cursor: to });
  }
  return report;
}

/** The rows' events the destination takes, and the rows held back (by billing or by the destination). */
function sendable(rows: BillableRow[], destination: Destination, plan: BillingPlan): { events: UsageEvent[]; held: HeldRow[] } {
  const { events: all, held } = classify(rows, plan);
  const events = all.filter((e) => {
    const refused = destination.accepts?.(e);
    if (refused !== undefined) held.push({ id: e.id, position: rows.find((r) => r.id === e.id)!.position, reason: refused, detail: e.customer, time: e.time });
    return refused === undefined;
  });
  return { events, held };
}

/**
 * Sends the rows held back before that are billable now, a batch at a time; each batch is marked
 * pushed (and no longer held) once the destination accepted it. A crash in between sends it again,
 * which the destination counts once, as in the main push.
 */
async function releaseHeld(ledger: BillingLedger, destination: Destination, plan: BillingPlan, batchSize: number, opts: PushOptions, report: PushReport): Promise<void> {
  let after = 0;
  while (!opts.signal?.aborted) {
    // Held for a reason the team can fix (a price, a customer); not what the destination refuses for good (too old).
    const rows = await ledger.heldRows(destination.name, [UNPRICED, NO_CUSTOMER], after, batchSize);
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.position;
    const { events, held } = sendable(rows, destination, plan);
    report.stillHeld.push(...held);
    if (events.length === 0) continue;
    await sendWithRetries(destination, events, opts);
    await ledger.release(destination.name, events.map((e) => ({ id: e.id, customer: e.customer, value: e.value, time: e.time })));
    report.released += events.length;
  }
}

async function sendWithRetries(destination: Destination, events: Parameters<Destination['send']>[0], opts: PushOptions): Promise<void> {
  const attempts = Math.max(1, opts.attempts ?? 5);
  let wait = opts.backoffMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      await destination.send(events);
      return;
    } catch (err) {
      const retryable = err instanceof BillingError && err.retryable;
      if (!retryable || attempt >= attempts || opts.signal?.aborted) throw err;
      await sleep(wait, opts.signal);
      wait *= 2;
    }
  }
}

/** A pusher that runs in the background (the gateway's `--billing`). */
export interface BillingPusher {
  /** Finishes the batch in flight, then stops. */
  stop(): Promise<void>;
}

/**
 * Pushes every `intervalMs` until stopped; a failed run is reported and tried again at the next
 * tick (the cursor did not move, so nothing is lost or sent twice).
 */
export function startBillingPusher(
  ledger: BillingLedger,
  destination: Destination,
  plan: BillingPlan,
  opts: PushOptions & { intervalMs: number; onReport?: (report: PushReport) => void; onError: (error: Error) => void },
): BillingPusher {
  const controller = new AbortController();
  const signal = controller.signal;
  const loop = (async () => {
    // The plan is read once, at start: held rows can become billable only then.
    let releaseHeld = true;
    while (!signal.aborted) {
      try {
        const report = await pushLedger(ledger, destination, plan, { ...opts, signal, releaseHeld });
        releaseHeld = false;
        if (report.batches > 0 || report.released > 0) opts.onReport?.(report);
      } catch (err) {
        opts.onError(err as Error);
      }
      await sleep(opts.intervalMs, signal);
    }
  })();
  return {
    async stop() {
      controller.abort();
      await loop;
    },
  };
}
