import { AsyncLocalStorage } from 'node:async_hooks';
import { watch, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { createEngine } from '../engine/engine.js';
import type { Engine, EngineConfig } from '../engine/types.js';
import { TokenlayRulesError } from '../policy/errors.js';
import { createStore } from '../store/index.js';
import { isStoreUnavailable } from '../store/unavailable.js';
import type { LedgerRow } from '../store/types.js';
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_HOST, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_KEYS_FILE, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, DEFAULT_STORE } from './defaults.js';
import { createAllowlist, DEFAULT_PROVIDER_BASES } from './allowlist.js';
import { isSecureRequest } from './client-address.js';
import { instrumentStore } from './instrumented-store.js';
import { createPostgresKeyStore, isPostgresUrl } from './keys-postgres.js';
import { createSqliteKeyStore } from './keys-sqlite.js';
import type { KeyStore } from './keys.js';
import { callLine, createLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { createRequestHandler } from './handler.js';
import { createUpstream } from './upstream.js';
import type { Gateway, GatewayAddress, GatewayOptions } from './types.js';
import { createDashboardMount } from './dashboard-mount.js';
import { openOverrideStore } from '../store/overrides-open.js';
import type { OverrideStore } from '../store/overrides.js';


/**
 * Creates a self-hostable Tokenlay proxy: the policy engine behind HTTP, speaking the wire contract
 * of docs/protocol.md. Every OpenAI REST path under `/v1/` is authenticated with a tokenlay key,
 * checked against the rules and forwarded to the provider named by `x-tokenlay-provider-base` (if
 * on the allowlist) with `x-tokenlay-provider-key` as the provider's own key. Also serves
 * `GET /v1/health`, `GET /v1/usage`, `GET /v1/budget`, `GET /healthz` and `GET /metrics`. A path that leaves `/v1/`
 * once its dots and encoded separators are resolved gets 400 `path_not_allowed`; only allowlisted
 * provider answer headers reach the caller; slow clients are cut off at the header, body and idle
 * timeouts (docs/security.md, the threat model).
 *
 * ```ts
 * import { createGateway } from 'tokenlay/gateway';
 * const gateway = createGateway({ rules: './tokenlay.rules.yaml' });
 * const { url } = await gateway.listen(8787);
 * // on shutdown: await gateway.close();
 * ```
 *
 * @throws {TokenlayRulesError} when the rules have problems (each listed by path); an Error for a
 * bad store spec, allowlist entry or option value.
 */
export function createGateway(options: GatewayOptions = {}): Gateway {
  const now = options.now ?? Date.now;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const idleMs = options.streamIdleTimeoutMs ?? 300_000;
  const drainMs = options.drainTimeoutMs ?? 10_000;
  const headerTimeoutMs = options.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  const clientIdleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const trustProxy = options.trustProxy === true;
  const least = { maxBodyBytes: 0, streamIdleTimeoutMs: 0, drainTimeoutMs: 0, providerTimeoutMs: 0, headerTimeoutMs: 1, bodyTimeoutMs: 1, idleTimeoutMs: 0 };
  const given = { maxBodyBytes, streamIdleTimeoutMs: idleMs, drainTimeoutMs: drainMs, providerTimeoutMs: options.providerTimeoutMs ?? 1, headerTimeoutMs, bodyTimeoutMs, idleTimeoutMs: clientIdleMs };
  for (const [name, value] of Object.entries(given)) {
    const min = least[name as keyof typeof least];
    if (!Number.isFinite(value) || value < min) throw new Error(`tokenlay gateway: ${name} must be a number of ${name === 'maxBodyBytes' ? 'bytes' : 'ms'} ≥ ${min}; got ${String(value)}.`);
  }
  const allowlist = createAllowlist(options.allowProviderBases ?? DEFAULT_PROVIDER_BASES);
  const log: Logger | undefined = options.logger === false ? undefined : (options.logger ?? createLogger({ format: options.logFormat, level: options.logLevel }));
  const metrics = createMetrics();

  const ownsStore = typeof options.store !== 'object';
  const rawStore =
    typeof options.store === 'object' && options.ledger === undefined
      ? options.store
      : createStore({ store: options.store ?? DEFAULT_STORE, ledger: options.ledger, onStoreError: options.onStoreError, spoolPath: options.ledgerSpoolPath });
  metrics.watchStore(rawStore);
  const store = instrumentStore(rawStore, (operation, error) => {
    metrics.storeError(operation);
    // An unreachable Redis is logged once per outage by the store itself, not once per call.
    if (!isStoreUnavailable(error)) log?.error({ operation, err: (error as Error)?.message }, 'store operation failed');
  });
  const ownsKeys = typeof options.keys !== 'object';
  const ownsOverrides = options.overrides === undefined;
  let overrides: OverrideStore | undefined;
  let keys: KeyStore;
  try {
    const ledgerSpec = options.ledger ?? (process.env.TOKENLAY_LEDGER || undefined);
    // Keys already made in a keys file are not found once keys move to the ledger: say so at start.
    if (typeof options.keys === 'string' && isPostgresUrl(ledgerSpec)) {
      log?.warn({ keys: options.keys }, 'the keys file is not used: with a postgres:// ledger, keys live in the ledger database; create them with tokenlay keys create --ledger <the same URL>');
    }
    keys =
      typeof options.keys === 'object'
        ? options.keys
        : isPostgresUrl(ledgerSpec)
          ? createPostgresKeyStore({ url: ledgerSpec.trim(), now, ...(options.keyCacheMs === undefined ? {} : { cacheMs: options.keyCacheMs }) })
          : createSqliteKeyStore({ path: options.keys ?? DEFAULT_KEYS_FILE, now });
    // Limits set at run time and credits live beside the ledger (or in the SQLite store), shared by every gateway on it.
    overrides = options.overrides ?? openOverrideStore({ store: typeof options.store === 'object' ? undefined : (options.store ?? DEFAULT_STORE), ledger: ledgerSpec });
  } catch (err) {
    if (ownsKeys && keys!) void Promise.resolve(keys.close()).catch(() => {});
    if (ownsStore) void rawStore.close();
    throw err;
  }
  const overrideStore = overrides;

  // Sends to the provider over a pool per origin: never follows a redirect (it could lead
  // anywhere, keys attached), and times the provider for the latency histogram.
  const upstream = createUpstream();
  const upstreamFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const started = performance.now();
    let response: Response;
    try {
      response = await upstream.fetch(input, init);
    } catch (err) {
      metrics.upstream((performance.now() - started) / 1000, 'error');
      throw err;
    }
    metrics.upstream((performance.now() - started) / 1000, response.status);
    if (response.status >= 300 && response.status < 400) {
      void response.body?.cancel().catch(() => {});
      throw new Error(`the provider answered ${response.status} with a redirect, which tokenlay never follows; give the provider's final base URL`);
    }
    return response;
  };

  // The client of the request being handled, for the log lines it causes (settlement included).
  const client = new AsyncLocalStorage<string | undefined>();
  const onLedger = (row: LedgerRow) => {
    metrics.call(row);
    log?.info(callLine(row, client.getStore() ?? null), 'call');
  };
  const engineConfig = (rules: string | object | undefined): EngineConfig => {
    const config: EngineConfig = {
      store,
      fetch: upstreamFetch,
      onLedger,
      now,
      alerts: { onResult: (delivered) => metrics.alert(delivered), log: (line) => log?.warn(line) },
      overrides: overrideStore,
    };
    if (rules !== undefined) config.rules = rules;
    if (options.prices) config.prices = options.prices;
    if (options.unknownModels) config.unknownModels = options.unknownModels;
    if (options.providerTimeoutMs !== undefined) config.providerTimeoutMs = options.providerTimeoutMs;
    if (options.leaseMs !== undefined) config.leaseMs = options.leaseMs;
    return config;
  };

  let engine: Engine;
  try {
    engine = createEngine(engineConfig(options.rules));
  } catch (err) {
    if (ownsKeys) void Promise.resolve(keys.close()).catch(() => {});
    if (ownsOverrides) void overrideStore.close().catch(() => {});
    if (ownsStore) void rawStore.close();
    throw err;
  }

  const dashboard = createDashboardMount({ store, keys, rules: options.rules, isSecure: (req) => isSecureRequest(req, trustProxy), overrides: overrideStore });
  const rulesFile = typeof options.rules === 'string' ? resolve(options.rules) : undefined;
  function reloadRules(): boolean {
    if (rulesFile === undefined) return false;
    let next: Engine;
    try {
      next = createEngine(engineConfig(rulesFile));
    } catch (err) {
      const problems = err instanceof TokenlayRulesError ? err.problems : [(err as Error).message];
      log?.error({ file: rulesFile, problems }, 'rules refused; the rules in force stay');
      return false;
    }
    const previous = engine;
    engine = next;
    // The store is the gateway's, so closing the old engine only waits for its settlements.
    void previous.close();
    log?.info({ file: rulesFile }, 'rules reloaded');
    return true;
  }
  let watcher: FSWatcher | undefined;
  if (rulesFile !== undefined) {
    let timer: NodeJS.Timeout | undefined;
    // The folder, not the file: editors and deploys replace the file, which ends a watch on it.
    watcher = watch(dirname(rulesFile), (_event, name) => {
      if (name !== null && name !== basename(rulesFile)) return;
      clearTimeout(timer);
      timer = setTimeout(reloadRules, 100);
      timer.unref();
    });
    watcher.unref();
  }

  const front = createRequestHandler({
    engine: () => engine,
    store,
    keys,
    allowlist,
    metrics,
    dashboard,
    log,
    client,
    now,
    trustProxy,
    maxBodyBytes,
    bodyTimeoutMs,
    clientIdleMs,
    streamIdleMs: idleMs,
  });
  const handler = front.handler;

  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let closed: Promise<void> | undefined;

  async function shutdown(): Promise<void> {
    front.stopAccepting();
    watcher?.close();
    const stopped = server ? new Promise<void>((r) => server!.close(() => r())) : Promise.resolve();
    server?.closeIdleConnections();
    await front.drained(drainMs);
    for (const s of sockets) s.destroy();
    await stopped;
    // A ledger that cannot be written (PostgreSQL down) fails the close, but the store and the
    // keys are closed all the same: an open Redis connection would keep the process alive.
    try {
      await engine.close();
    } finally {
      try {
        if (ownsStore) await rawStore.close();
        else await rawStore.flush();
      } finally {
        if (ownsKeys) await keys.close();
        if (ownsOverrides) await overrideStore.close().catch(() => {});
        await upstream.close();
        log?.flush();
      }
    }
  }

  const api = {
    handler,
    async listen(port = DEFAULT_PORT, host = DEFAULT_HOST): Promise<GatewayAddress> {
      // Room for the attribution headers the protocol allows (8 KiB) beside the usual ones, so
      // that an oversized block reaches the engine and gets its 400, not Node's bare 431.
      // Slow clients: headers within headerTimeoutMs; the whole request (Node's own backstop to the
      // gateway's body timeout) a little after. Node checks these every connectionsCheckingInterval.
      const shortest = Math.min(headerTimeoutMs, bodyTimeoutMs);
      server = createServer(
        {
          maxHeaderSize: 64 * 1024,
          headersTimeout: headerTimeoutMs,
          requestTimeout: headerTimeoutMs + bodyTimeoutMs + 1000,
          connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(shortest / 4))),
        },
        handler,
      );
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => {
          server!.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return { host: address.address, port: address.port, url: `http://${shownHost}:${address.port}` };
    },
    close() {
      closed ??= shutdown();
      return closed;
    },
    reloadRules,
    get engine() {
      return engine;
    },
    store,
    keys,
    metrics: metrics.registry,
    get inFlight() {
      return front.inFlight;
    },
  };
  // The gateway is itself the request listener: http.createServer(createGateway()) works.
  return Object.defineProperties(handler, Object.getOwnPropertyDescriptors(api)) as Gateway;
}
