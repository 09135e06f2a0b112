import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CostSum } from '../store/money.js';
import type { LedgerRow } from '../store/types.js';

/** The gateway's Prometheus metrics, in a registry of its own (never prom-client's global one). */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** One finished call (a ledger row). */
  call(row: LedgerRow): void;
  /** A call the gateway refused before the engine saw it (401, 400, 413). */
  refused(status: number): void;
  /** Time from sending a call upstream to the provider's response headers, in seconds. */
  upstream(seconds: number, status: number | 'error'): void;
  storeError(operation: string): void;
  /**
   * Exports a Redis store's availability and outages (a store without `health()` adds nothing), and
   * a Postgres ledger's (`ledgerHealth()`, from `combineStores`).
   */
  watchStore(store: object): void;
  /** A `notify` alert delivered, or failed after every try. */
  alert(delivered: boolean): void;
}

interface StoreHealth {
  available: boolean;
  outages: number;
  unavailableCalls: number;
  dataLosses?: number;
}

interface LedgerHealth {
  available: boolean;
  outages: number;
  recoveries: number;
  pendingRows: number;
}

/**
 * The child of a labelled metric for some label values, made on first use and kept: prom-client
 * would otherwise hash the labels again on every call. Label values here come from small sets
 * (HTTP statuses, rule actions, rule ids, token kinds).
 */
function childrenOf<C>(make: (...values: string[]) => C): (...values: string[]) => C {
  const made = new Map<string, C>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = made.get(key);
    if (child === undefined) {
      child = make(...values);
      made.set(key, child);
    }
    return child;
  };
}

/** A Postgres ledger's outages and recoveries (a store without `ledgerHealth()` adds nothing). */
function watchLedger(registry: Registry, store: object): void {
  const health = (store as { ledgerHealth?: () => LedgerHealth }).ledgerHealth;
  if (typeof health !== 'function') return;
  const read = () => health.call(store);
  const gauge = (name: string, help: string, value: (h: LedgerHealth) => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(value(read())); } });
  gauge('tokenlay_ledger_available', 'Whether the usage ledger (PostgreSQL) takes writes: 1 or 0.', (h) => (h.available ? 1 : 0));
  gauge('tokenlay_ledger_outages', 'Outages of the usage ledger (PostgreSQL) since start; rows are kept in the spool meanwhile.', (h) => h.outages);
  gauge('tokenlay_ledger_recoveries', 'Recoveries of the usage ledger (PostgreSQL) since start: spooled rows written again.', (h) => h.recoveries);
  gauge('tokenlay_ledger_pending_rows', 'Ledger rows spooled and not yet written to PostgreSQL.', (h) => h.pendingRows);
}

/**
 * `tokenlay_requests_total{status,action}`, `tokenlay_blocks_total{rule}`, `tokenlay_cost_usd_total`,
 * `tokenlay_tokens_total{kind}`, `tokenlay_upstream_latency_seconds{status}`,
 * `tokenlay_store_errors_total{operation}`, `tokenlay_alerts_total{result}` (sent, failed), with a Redis store `tokenlay_store_available`,
 * `tokenlay_store_outages`, `tokenlay_store_unavailable_calls` and `tokenlay_store_data_losses`, with a Postgres ledger `tokenlay_ledger_available`,
 * `tokenlay_ledger_outages`, `tokenlay_ledger_recoveries` and `tokenlay_ledger_pending_rows`, plus Node's process metrics.
 */
export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'tokenlay_requests_total', help: 'Calls answered, by HTTP status and rule action.', labelNames: ['status', 'action'], registers: [registry] });
  const blocks = new Counter({ name: 'tokenlay_blocks_total', help: 'Calls blocked, by rule.', labelNames: ['rule'], registers: [registry] });
  // Summed in whole 1e-10 USD units and shown from the sum: a float counter drifts (0.006989999999999997).
  const costSum = new CostSum();
  new Counter({
    name: 'tokenlay_cost_usd_total',
    help: 'Cost of the calls answered, in USD.',
    registers: [registry],
    collect() {
      this.reset();
      if (costSum.units > 0n) this.inc(costSum.usd);
    },
  });
  const tokens = new Counter({ name: 'tokenlay_tokens_total', help: 'Tokens of the calls answered, by kind (input, output).', labelNames: ['kind'], registers: [registry] });
  const upstream = new Histogram({
    name: 'tokenlay_upstream_latency_seconds',
    help: "Time from sending a call to the provider until its response headers, in seconds.",
    labelNames: ['status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const storeErrors = new Counter({ name: 'tokenlay_store_errors_total', help: 'Store operations that failed, by operation.', labelNames: ['operation'], registers: [registry] });
  const requestsBy = childrenOf((status, action) => requests.labels(status!, action!));
  const blocksBy = childrenOf((rule) => blocks.labels(rule!));
  const tokensBy = childrenOf((kind) => tokens.labels(kind!));
  const upstreamBy = childrenOf((status) => upstream.labels(status!));
  const alerts = new Counter({ name: 'tokenlay_alerts_total', help: 'notify alerts posted, by result (sent, or failed after every try).', labelNames: ['result'], registers: [registry] });
  return {
    registry,
    call(row) {
      requestsBy(String(row.status), row.action ?? 'none').inc();
      if (row.action === 'block') blocksBy(row.ruleId ?? '(none)').inc();
      if (row.cost > 0) costSum.add(row.cost);
      if (row.inputTokens > 0) tokensBy('input').inc(row.inputTokens);
      if (row.outputTokens > 0) tokensBy('output').inc(row.outputTokens);
    },
    refused(status) {
      requestsBy(String(status), 'refuse').inc();
    },
    upstream(seconds, status) {
      upstreamBy(String(status)).observe(seconds);
    },
    storeError(operation) {
      storeErrors.inc({ operation });
    },
    watchStore(store) {
      watchLedger(registry, store);
      const health = (store as { health?: () => StoreHealth }).health;
      if (typeof health !== 'function') return;
      const read = () => health.call(store);
      new Gauge({ name: 'tokenlay_store_available', help: 'Whether the counter store (Redis) is reachable: 1 or 0.', registers: [registry], collect() { this.set(read().available ? 1 : 0); } });
      new Gauge({ name: 'tokenlay_store_outages', help: 'Outages of the counter store (Redis) since start.', registers: [registry], collect() { this.set(read().outages); } });
      new Gauge({ name: 'tokenlay_store_unavailable_calls', help: 'Calls refused (onStoreError closed) or let through uncounted (open) during outages, since start.', registers: [registry], collect() { this.set(read().unavailableCalls); } });
      new Gauge({ name: 'tokenlay_store_data_losses', help: 'Times the counter store (Redis) lost its data since start; the counters were rebuilt from the ledger each time.', registers: [registry], collect() { this.set(read().dataLosses ?? 0); } });
    },
    alert(delivered) {
      alerts.inc({ result: delivered ? 'sent' : 'failed' });
    },
  };
}
