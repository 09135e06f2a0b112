import { matchContext } from '../policy/evaluate.js';
import { counterMetric, resolveLimits, thresholds, type ResolvedLimit } from '../policy/limits.js';
import type { Notification, Rule, RulesDocument } from '../policy/types.js';
import type { CounterStore, LedgerRow, TokenlayStore } from '../store/types.js';
import { postWithRetry } from './deliver.js';
import { alertBody, alertText, type AlertEvent } from './message.js';

/** Options of {@link createAlerts}. Times in ms. */
export interface AlertOptions {
  /** Tries per alert (default 4), the wait before the second (default 500, doubled after), and per try (default 5000). */
  attempts?: number;
  backoffMs?: number;
  timeoutMs?: number;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** The clock, ms since epoch, as the engine's. Default `Date.now`. */
  now?: () => number;
  /** Told of each alert's outcome: delivered (true) or failed every try (false); for a metric. */
  onResult?: (delivered: boolean) => void;
  /** Where a failed delivery is logged; never given the URL's path or query (they hold secrets). Default `console.warn`. */
  log?: (line: string) => void;
  /**
   * Reads the earlier steps of rolling limits (`last_24h`) into each limit's `prior`: the engine's
   * own reader, handed in because alerts sit below the engine. Without it a rolling limit's alert
   * sees only its current step.
   */
  readPrior?: (store: CounterStore, limits: ResolvedLimit[], now: number) => Promise<void>;
}

/** Counts of what was posted, for `/metrics` and tests. */
export interface AlertStats {
  /** Alerts delivered. */
  sent: number;
  /** Alerts that failed every try (each one also logged). */
  failed: number;
}

/** The alerts of a rules document's `notify` lists. */
export interface Alerts {
  /** Looks at a call once it is settled and in the ledger; returns at once (the call never waits). */
  observe(row: LedgerRow): void;
  readonly stats: AlertStats;
  /** Waits until every alert in flight was delivered or gave up. */
  idle(): Promise<void>;
  /** Stops retries and waits for what is in flight. */
  close(): Promise<void>;
}

/** Scheme and host only: a webhook URL's path is its secret. */
function where(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

function webhooksOf(rule: Rule): Notification[] {
  return (rule.then.on_limit_exceeded?.notify ?? []).filter((n) => (n.type === 'webhook' || n.type === 'slack') && n.url !== undefined);
}

/** Whether a rules document asks for any alert this engine sends. */
export function hasAlerts(doc: RulesDocument): boolean {
  return doc.rules.some((r) => webhooksOf(r).length > 0);
}

/**
 * Sends the alerts a rules file's `on_limit_exceeded.notify` asks for: when a counter crosses its
 * limit's `warn_at` threshold, and when a limit blocks a call. Each fires at most once per counter
 * per window, also across engines sharing a store: the once-marker is itself a counter with max 1,
 * claimed through the store's atomic `reserve`. Delivery is in the background with retries; the
 * call that crossed the threshold is never delayed, and a failed delivery is counted and logged.
 */
export function createAlerts(doc: RulesDocument, store: TokenlayStore, options: AlertOptions = {}): Alerts {
  const rules = new Map(doc.rules.filter((r) => webhooksOf(r).length > 0).map((r) => [r.id, r]));
  const stats: AlertStats = { sent: 0, failed: 0 };
  const claimed = new Map<string, number | null>(); // marker key → window end, known taken here
  const inFlight = new Set<Promise<unknown>>();
  const stop = new AbortController();
  const clock = options.now ?? Date.now;
  const log = options.log ?? ((line: string) => console.warn(line));
  const delivery = {
    attempts: options.attempts ?? 4,
    backoffMs: options.backoffMs ?? 500,
    timeoutMs: options.timeoutMs ?? 5000,
    fetch: options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init)),
    signal: stop.signal,
  };

  function track(p: Promise<unknown>): void {
    const t = p.catch((err: unknown) => log(`tokenlay: checking alerts failed: ${(err as Error).message}`)).finally(() => inFlight.delete(t));
    inFlight.add(t);
  }

  /**
   * Claims the once-marker of (counter, window, kind, threshold); true for exactly one caller. A
   * rolling window has no start of its own: its markers last one window's length.
   */
  async function claim(l: ResolvedLimit, kind: AlertEvent['kind'], now: number, threshold?: number): Promise<boolean> {
    const key = `alert|${kind}${threshold === undefined ? '' : `@${threshold}`}|${l.key}`;
    const span = l.earlier && l.resetsAt !== null ? l.resetsAt - l.bucket : undefined;
    const bucket = span ? Math.floor(now / span) * span : l.bucket;
    const expiresAt = span ? bucket + span : l.resetsAt;
    const local = `${key}@${bucket}`;
    if (claimed.has(local)) return false;
    claimed.set(local, expiresAt);
    const r = await store.reserve([{ key, metric: 'requests', bucket, expiresAt, max: 1, amount: 1 }], { now, leaseMs: 3_600_000 });
    if (!r.ok) return false;
    await store.settle(r.id, { requests: 1, tokens: 0, cost: 0 });
    return true;
  }

  function prune(now: number): void {
    if (claimed.size < 10_000) return;
    for (const [k, end] of claimed) if (end !== null && end <= now) claimed.delete(k);
  }

  function send(rule: Rule, event: AlertEvent): void {
    for (const n of webhooksOf(rule)) {
      track(
        postWithRetry(n.url!, alertBody(n, event), delivery).then((failure) => {
          options.onResult?.(failure === undefined);
          if (failure === undefined) stats.sent += 1;
          else {
            stats.failed += 1;
            log(`tokenlay: alert to ${where(n.url!)} failed after ${delivery.attempts} tries (${failure}): ${alertText(event)}`);
          }
        }),
      );
    }
  }

  async function check(rule: Rule, row: LedgerRow): Promise<void> {
    const now = row.time;
    prune(now);
    const context = matchContext({ fields: row.fields, model: row.modelRequested ?? undefined, endpoint: row.endpoint });
    const blocked = row.action === 'block' && row.status >= 400;
    const limits = resolveLimits(rule, context, now);
    await options.readPrior?.(store, limits, clock());
    for (const l of limits) {
      const read = await store.read(l.key, counterMetric(l.limit.type), l.bucket, clock());
      const used = read.used + (l.prior ?? 0);
      const reserved = read.reserved;
      const event = (kind: AlertEvent['kind'], value: number, warnAt: number | null = null): AlertEvent => ({
        kind,
        ruleId: rule.id,
        scope: l.scope,
        limit: { type: l.limit.type, max: l.limit.max, window: l.limit.type === 'concurrent' ? 'total' : l.limit.window, warnAt },
        used: value,
        windowStart: l.bucket,
        resetsAt: l.resetsAt,
        time: row.time,
      });
      // Calls in flight count for requests and concurrency, as admission counts them.
      const current = l.limit.type === 'requests' || l.limit.type === 'concurrent' ? used + reserved : used;
      if (blocked && current >= l.limit.max && (await claim(l, 'limit_blocked', now))) send(rule, event('limit_blocked', current));
      // Each threshold once per window: a call that jumps past several sends each of them.
      const levels = thresholds(l.limit);
      for (const f of levels) {
        if (used >= f * l.limit.max && (await claim(l, 'threshold_crossed', now, f === levels[0] ? undefined : f))) {
          send(rule, event('threshold_crossed', used, f));
        }
      }
    }
  }

  return {
    observe(row) {
      if (row.ruleId === null || stop.signal.aborted) return;
      const rule = rules.get(row.ruleId);
      if (rule) track(check(rule, row));
    },
    stats,
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    async close() {
      stop.abort();
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
