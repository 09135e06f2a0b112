/**
 * Rebuilding counters from the ledger, for a counter store that lost its data (Redis restarted
 * without persistence, flushed, or failed over to an empty replica; see
 * `store/redis-data-loss.ts`). Each ledger row of a call that was charged is matched against the
 * rules again, as at its admission, which names the counters it was settled on; the counters of
 * the current windows are raised to the sums.
 *
 * What it cannot know, and so does not rebuild: usage conditions (`if: { usage: … }`) are matched
 * without usage, so a rule chosen by usage is found again only when it is also the first rule the
 * call matches without it; rows still on their way to the ledger when it is read (a call that
 * ends after the rebuild's grace period) stay in the ledger but not on the counters; `concurrent`
 * counts calls in flight, which end on their own.
 */
import { evaluateRules } from '../policy/evaluate.js';
import type { CounterRebuilder } from '../store/redis-data-loss.js';
import { HOLDER_LOST, type CounterCheck, type LedgerRow, type Metric } from '../store/types.js';
import type { EngineContext } from './context.js';
import { readoutChecks } from './readouts.js';
import { limitChecks } from './admission.js';
import { parseRolling, rollingBounds, windowBounds } from '../policy/windows.js';
import type { WindowName } from '../policy/types.js';

/** The ledger status of a call whose caller went away; billed when the provider had started on it. */
const CLIENT_CLOSED = 499;

/**
 * Whether settlement charged the call's counters: answered by the provider (2xx), cut off after
 * it was sent, or charged at what it reserved when its holder was lost.
 */
function charged(row: LedgerRow): boolean {
  if (row.status >= 200 && row.status < 300) return true;
  if (row.estimateReason === HOLDER_LOST) return true;
  return row.status === CLIENT_CLOSED && (row.inputTokens + row.outputTokens > 0 || row.cost > 0);
}

/** What the call's settlement added to a counter of `metric`. */
function amountOf(metric: Metric, row: LedgerRow): number {
  if (metric === 'requests') return 1;
  if (metric === 'tokens') return row.inputTokens + row.outputTokens;
  if (metric === 'cost') return row.cost;
  return 0;
}

/** The counters a row's call was settled on, as at its admission. */
function countersOf(ctx: EngineContext, row: LedgerRow): CounterCheck[] {
  const checks: CounterCheck[] = readoutChecks(ctx.readouts, row.fields.user, row.time, { tokens: 0, cost: 0 });
  if (!ctx.doc) return checks;
  const decision = evaluateRules(ctx.doc, { fields: row.fields, model: row.modelRequested ?? undefined, endpoint: row.endpoint }, row.time);
  if (decision.rule && decision.action !== 'block') checks.push(...limitChecks(decision.limits, { tokens: 0, cost: 0 }));
  return checks;
}

/** The earliest start of a current window any counter can have: rows before it count nowhere now. */
function earliestWindow(ctx: EngineContext, now: number): number {
  const windows = [
    ...(ctx.doc?.rules ?? []).flatMap((r) => (r.then.limits ?? []).filter((l) => l.type !== 'concurrent').map((l) => l.window)),
    ...ctx.readouts.filter((r) => r.metric !== 'concurrent').map((r) => r.window),
  ];
  // A rolling window reaches back its whole length; a month or year on a billing date may have
  // started up to one window before the calendar's.
  return Math.min(now, ...windows.map((w) => earliestStart(w, now)));
}

function earliestStart(window: WindowName, now: number): number {
  const rolling = parseRolling(window);
  if (rolling) return rollingBounds(rolling, now).bucket - (rolling.steps - 1) * rolling.step;
  const start = windowBounds(window, now).start;
  return window === 'month' || window === 'year' ? windowBounds(window, start - 1).start : start;
}

/** The rebuilder the engine registers with a counter store that can lose its data. */
export function counterRebuilder(ctx: EngineContext): CounterRebuilder {
  return async ({ used, add, now }) => {
    // This instance's own rows first; PostgreSQL being down only means fewer rows to rebuild from.
    await ctx.store.flush().catch(() => undefined);
    const rows = await ctx.store.ledger({ since: earliestWindow(ctx, now), until: now + 1 });
    const sums = new Map<string, { check: CounterCheck; total: number }>();
    for (const row of rows) {
      if (!charged(row)) continue;
      for (const check of countersOf(ctx, row)) {
        // Only the current windows: older counters expire and are never read again.
        if (check.metric === 'concurrent' || (check.expiresAt !== null && check.expiresAt <= now)) continue;
        const id = `${check.metric}:${check.bucket}:${check.key}`;
        const entry = sums.get(id) ?? { check, total: 0 };
        entry.total += amountOf(check.metric, row);
        sums.set(id, entry);
      }
    }
    let raised = 0;
    for (const { check, total } of sums.values()) {
      const missing = total - (await used(check.key, check.metric, check.bucket, now));
      // Raised only: counters that were not lost (or another instance's half-done rebuild) are not counted twice.
      if (missing > 1e-9 * Math.max(1, total)) {
        await add({ key: check.key, metric: check.metric, bucket: check.bucket, expiresAt: check.expiresAt }, missing);
        raised++;
      }
    }
    return { counters: raised, rows: rows.length };
  };
}
