import { createAlerts, hasAlerts } from '../alerts/notifier.js';
import { createPricer } from '../metering/index.js';
import { loadRules } from '../policy/load.js';
import { usageReadouts } from '../policy/usage.js';
import type { RulesDocument } from '../policy/types.js';
import { createStore } from '../store/index.js';
import type { CounterRebuilder } from '../store/redis-data-loss.js';
import { untilCallerLeaves } from './caller-leaves.js';
import { realSleep } from './clock.js';
import { closeOnExit } from './close-on-exit.js';
import { durationOption } from './config.js';
import type { EngineContext } from './context.js';
import { inFlightCalls } from './in-flight.js';
import { leaseRenewal } from './leases.js';
import { counterRebuilder } from './rebuild-counters.js';
import { run } from './run.js';
import { readPrior } from './rolling.js';
import { userBudget } from './budget.js';
import { creditsApi } from './credits.js';
import { limitsApi } from './limits-api.js';
import { liveOverrides, OVERRIDES_POLL_MS } from './overrides.js';
import { openOverrideStore } from '../store/overrides-open.js';
import type { Engine, EngineConfig, ModelPrice } from './types.js';

function docPrices(doc: RulesDocument | undefined): Record<string, ModelPrice> {
  const out: Record<string, ModelPrice> = {};
  for (const [model, p] of Object.entries(doc?.prices ?? {})) {
    out[model] = p.cached_input === undefined ? { input: p.input, output: p.output } : { input: p.input, output: p.output, cachedInput: p.cached_input };
  }
  return out;
}

let warnedMemory = false;

/** How long the first calls wait for the first read of the overrides (ms). */
const OVERRIDES_FIRST_READ_MS = 2000;

let overridesFaults = 0;
/** A failed read of the override store: the last overrides stay in force; said once per engine's first few faults. */
function reportOverridesFault(error: unknown): void {
  if (overridesFaults++ < 3) process.emitWarning(`tokenlay: cannot read limit overrides and credits (${(error as Error)?.message ?? String(error)}); the last ones read stay in force and the read is retried every second.`);
}

/** Limits on the default memory store reset with the process: say so once, with the fix. */
function warnMemoryBudgets(): void {
  if (warnedMemory) return;
  warnedMemory = true;
  process.emitWarning(
    "tokenlay: usage limits are counted in memory (no store option), so they reset when the process restarts. Pass store: 'sqlite:./.tokenlay/usage.db' (or set TOKENLAY_STORE) to keep them.",
  );
}

/**
 * Creates the policy engine that the embedded client and the gateway share. Rules are loaded and
 * checked here, so a malformed rules file fails at startup (a `TokenlayRulesError`), never later.
 *
 * One call through {@link Engine.handle} passes these stages, one file each:
 * - decide (`decide.ts`): rules pick a rule and a model; a blocking rule is refused at once;
 * - admit (`admission.ts`): one request, one concurrent slot and the estimated tokens and cost are
 *   reserved on every limit's counter, atomically, and `on_limit_exceeded` applies when one is full;
 * - forward (`forward.ts`): to the provider without `x-tokenlay-*` headers, `then.fallbacks` tried
 *   in order on 5xx, timeout or connection failure;
 * - meter (`meter.ts`): usage from the JSON body or the SSE stream (streamed chat calls ask for
 *   `include_usage`, and the chunk is removed when the caller did not ask), estimated when absent, priced;
 * - settle (`settle.ts`): the reservation is replaced by the usage (released when nothing was
 *   billed) and the ledger row written, once, on every path;
 * - answer (`answer.ts`): docs/protocol.md §2 headers, the `: x-tokenlay {json}` trailer of a stream, or a typed refusal rendered.
 *
 * @throws {TokenlayRulesError} when the rules are malformed; an Error for a bad store spec or price override;
 *   a TypeError for a duration option that is not a positive number of ms.
 */
export function createEngine(config: EngineConfig = {}): Engine {
  const doc = config.rules === undefined ? undefined : loadRules(config.rules, { customFields: config.customFields });
  const store = createStore({ store: config.store, ledger: config.ledger, onStoreError: config.onStoreError, spoolPath: config.ledgerSpoolPath });
  if (config.store === undefined && !process.env.TOKENLAY_STORE && doc?.rules.some((r) => r.then.limits?.length)) warnMemoryBudgets();
  // What createStore opened is ours to close; a store object passed in is the caller's.
  const ownsStore = store !== config.store;
  const now = config.now ?? Date.now;
  const alerts = doc && hasAlerts(doc) ? createAlerts(doc, store, { now, readPrior, ...config.alerts }) : undefined;
  const ownsOverrides = config.overrides === undefined;
  const overrides = liveOverrides(
    config.overrides ?? openOverrideStore({ store: config.store ?? (process.env.TOKENLAY_STORE || undefined), ledger: config.ledger ?? (process.env.TOKENLAY_LEDGER || undefined) }),
    durationOption(config, 'overridesPollMs', OVERRIDES_POLL_MS),
    (error) => reportOverridesFault(error),
  );
  // Store writes still in flight, so that flush() and close() wait for them.
  const pending = new Set<Promise<unknown>>();
  const leaseMs = durationOption(config, 'leaseMs', 60_000);
  const ctx: EngineContext = {
    doc,
    store,
    now,
    sleep: config.sleep ?? realSleep,
    leaseMs,
    leases: leaseRenewal(store, now, leaseMs),
    providerTimeoutMs: durationOption(config, 'providerTimeoutMs', 600_000),
    streamIdleTimeout: durationOption(config, 'streamIdleTimeout', 60_000),
    settleRetryMs: durationOption(config, 'settleRetryMs', 60_000),
    fetch: config.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init)),
    pricer: createPricer({ overrides: { ...docPrices(doc), ...config.prices }, unknownModel: config.unknownModels ?? doc?.unknown_models ?? 'zero' }),
    readouts: doc ? usageReadouts(doc) : [],
    overrides,
    // Rows arrive once the counters are settled, so an alert reads what this call has just moved.
    onLedger: alerts
      ? (row) => {
          alerts.observe(row);
          config.onLedger?.(row);
        }
      : config.onLedger,
    track(p) {
      // One promise a write: it neither rejects nor outlives the write.
      const untrack = () => {
        pending.delete(tracked);
      };
      const tracked = p.then(untrack, untrack);
      pending.add(tracked);
    },
  };
  // A counter store that can lose its data (Redis) rebuilds it from this engine's rules and ledger.
  (store as { watchDataLoss?: (rebuilder: CounterRebuilder) => void }).watchDataLoss?.(counterRebuilder(ctx));
  const closeTimeout = durationOption(config, 'closeTimeout', 30_000);
  const calls = inFlightCalls();
  let closed = false;

  async function flush(): Promise<void> {
    while (pending.size > 0) await Promise.all([...pending]);
    await store.flush();
  }

  let overridesRead = false;
  const firstRead = Promise.race([
    overrides.ready,
    new Promise<void>((resolve) => {
      setTimeout(resolve, OVERRIDES_FIRST_READ_MS).unref();
    }),
  ]);
  let closing: Promise<void> | undefined;
  let uninstall: (() => void) | undefined;
  const engine: Engine = {
    async handle(call) {
      if (closed) throw new Error('tokenlay: the policy engine was closed; create a new client or engine.');
      call.signal?.throwIfAborted();
      // The first calls wait for the first read of the overrides, so none misses one set before start.
      // An unreachable database holds them back 2 s at most: then they run on the rules file alone
      // until a poll succeeds.
      if (!overridesRead) {
        await firstRead;
        overridesRead = true;
      }
      const flight = calls.open();
      const running = (async () => {
        try {
          const response = await run(ctx, call, flight);
          // Refusals and read answers are settled by now; a stream finishes when it is settled.
          if (!flight.cutOff) flight.finish();
          return response;
        } catch (error) {
          // Every exit settles. The stages settle the throws they expect (a caller who left); one
          // they do not (a fault of ours after admission) is settled here as a call cut off, so its
          // reservation never outlives it. A settled call is not settled again.
          if (flight.cutOff) await flight.cutOff().catch(() => undefined);
          flight.finish();
          throw error;
        }
      })();
      return call.signal ? untilCallerLeaves(running, call.signal, ctx.track) : running;
    },
    store,
    alerts,
    budget(fields, runs = []) {
      return userBudget(ctx.doc, store, fields, runs, ctx.now(), overrides.view());
    },
    limits: limitsApi(overrides, now),
    overrides: overrides.store,
    credits: creditsApi(overrides, store, store, now),
    forAccount: (account) => ({ limits: limitsApi(overrides, now, account), credits: creditsApi(overrides, store, store, now, account) }),
    flush,
    close() {
      closed = true;
      closing ??= (async () => {
        uninstall?.();
        await calls.drain(closeTimeout, ctx.sleep);
        // Rows the ledger cannot take now (PostgreSQL down) stay in its spool; the store is closed
        // all the same, or its open connection would keep the process alive.
        try {
          await flush();
        } finally {
          await alerts?.close();
          ctx.leases.stop();
          overrides.close();
          if (ownsOverrides) await overrides.store.close();
          if (ownsStore) await store.close();
        }
      })();
      return closing;
    },
  };
  if (config.closeOnExit === true) uninstall = closeOnExit(() => engine.close());
  return engine;
}
