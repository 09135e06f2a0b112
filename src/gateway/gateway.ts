import { AsyncLocalStorage } from 'node:async_hooks';
import { watch, type FSWatcher } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { createEngine } from '../engine/engine.js';
import type { Engine, EngineConfig } from '../engine/types.js';
import { TokenlayRulesError } from '../policy/errors.js';
import { PROVIDER_BASE_HEADER, PROVIDER_KEY_HEADER } from '../protocol/names.js';
import { createStore } from '../store/index.js';
import { isStoreUnavailable } from '../store/unavailable.js';
import type { LedgerRow } from '../store/types.js';
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_HOST, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_KEYS_FILE, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, DEFAULT_PROVIDER_BASE, DEFAULT_STORE } from './defaults.js';
import { createAllowlist, DEFAULT_PROVIDER_BASES } from './allowlist.js';
import { isJsonType, jsonProblem, readBody } from './body.js';
import { callHeaders } from './call-headers.js';
import { clientAddress, isSecureRequest } from './client-address.js';
import { CALL_PREFIX, resolveCallPath, upstreamUrl } from './call-path.js';
import { sendError, sendJson } from './errors.js';
import { instrumentStore } from './instrumented-store.js';
import { createPostgresKeyStore, isPostgresUrl } from './keys-postgres.js';
import { createSqliteKeyStore } from './keys-sqlite.js';
import type { KeyStore } from './keys.js';
import { callLine, createLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { writeAnswer } from './respond.js';
import type { Gateway, GatewayAddress, GatewayOptions } from './types.js';
import { answerUsage } from './usage-endpoint.js';
import { createDashboardMount } from './dashboard-mount.js';
import { answerAdmin, isAdminPath } from './admin-limits.js';
import { openOverrideStore } from '../store/overrides-open.js';
import type { OverrideStore } from '../store/overrides.js';


/** The last 4 characters of a secret, enough to tell keys apart in a message and no more. */
function redactKey(key: string): string {
  return key.length <= 12 ? '***' : `***${key.slice(-4)}`;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Creates a self-hostable Tokenlay proxy: the policy engine behind HTTP, speaking the wire contract
 * of docs/protocol.md. Every OpenAI REST path under `/v1/` is authenticated with a tokenlay key,
 * checked against the rules and forwarded to the provider named by `x-tokenlay-provider-base` (if
 * on the allowlist) with `x-tokenlay-provider-key` as the provider's own key. Also serves
 * `GET /v1/health`, `GET /v1/usage`, `GET /healthz` and `GET /metrics`. A path that leaves `/v1/`
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

  // Sends to the provider: never follows a redirect (it could lead anywhere, keys attached), and
  // times the provider for the latency histogram.
  const upstreamFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const started = performance.now();
    let response: Response;
    try {
      response = await fetch(input, { ...init, redirect: 'manual' });
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
    log?.info({ ...callLine(row), client: client.getStore() ?? null }, 'call');
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

  let inFlight = 0;
  let closing = false;
  const drained = new Set<() => void>();

  function refuse(res: ServerResponse, status: number, code: string, message: string, extra: { type?: string; param?: string; account?: string; headers?: Record<string, string> } = {}): void {
    metrics.refused(status);
    log?.info({ account: extra.account ?? null, client: client.getStore() ?? null, status, code }, 'refused');
    sendError(res, status, { message, type: extra.type ?? 'invalid_request_error', code, param: extra.param ?? null }, extra.headers);
  }

  async function authenticate(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    const header = req.headers.authorization;
    const presented = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (presented === undefined) {
      refuse(
        res,
        401,
        'missing_api_key',
        'tokenlay: no tokenlay key. Send it as "Authorization: Bearer <tokenlay key>" (tokenlayKey in the SDK); create one with: npx tokenlay keys create --name NAME',
        { headers: { 'www-authenticate': 'Bearer' } },
      );
      return undefined;
    }
    let account: string | undefined;
    try {
      account = await keys.authenticate(presented);
    } catch (err) {
      log?.error({ err: (err as Error)?.message }, 'key store unavailable');
      refuse(res, 503, 'key_store_unavailable', 'tokenlay: the gateway cannot check tokenlay keys right now (its key store is unreachable); retry shortly. The gateway log says why.', {
        type: 'tokenlay_gateway_error',
        headers: { 'retry-after': '1' },
      });
      return undefined;
    }
    if (account === undefined) {
      refuse(
        res,
        401,
        'invalid_api_key',
        `tokenlay: the tokenlay key ${redactKey(presented)} is not known to this gateway or was revoked. Check tokenlayKey (TOKENLAY_KEY), or create a key with: npx tokenlay keys create --name NAME`,
        { headers: { 'www-authenticate': 'Bearer' } },
      );
    }
    return account;
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, path: string, search: string, account: string): Promise<void> {
    // Anthropic's and Google's SDKs pointed at the gateway send the key in their own header, which goes on as it is.
    const providerKey = req.headers[PROVIDER_KEY_HEADER] || req.headers['x-api-key'] || req.headers['x-goog-api-key'];
    if (typeof providerKey !== 'string' || providerKey === '') {
      return refuse(res, 400, 'missing_provider_key', "tokenlay: no provider key. Send the provider's API key as x-tokenlay-provider-key (providerApiKey in the SDK).", { account, param: PROVIDER_KEY_HEADER });
    }
    const rawBase = req.headers[PROVIDER_BASE_HEADER];
    const allowed = allowlist.check(typeof rawBase === 'string' && rawBase !== '' ? rawBase : DEFAULT_PROVIDER_BASE);
    if (!allowed.ok) return refuse(res, 400, 'provider_base_not_allowed', allowed.message, { account, param: PROVIDER_BASE_HEADER });
    const url = upstreamUrl(allowed.base, path, search);
    if (url === undefined) return refuse(res, 400, 'path_not_allowed', `tokenlay: the path ${JSON.stringify(path.slice(0, 200))} does not stay under the provider base ${allowed.base}; call an endpoint under ${CALL_PREFIX}.`, { account });

    const read = await readBody(req, { maxBytes: maxBodyBytes, bodyTimeoutMs, idleTimeoutMs: clientIdleMs });
    if (!read.ok && read.status === 408) {
      res.shouldKeepAlive = false;
      const [flag, env, ms] = read.timeout === 'body' ? ['--body-timeout', 'TOKENLAY_BODY_TIMEOUT', bodyTimeoutMs] : ['--idle-timeout', 'TOKENLAY_IDLE_TIMEOUT', clientIdleMs];
      const what = read.timeout === 'body' ? `the request body did not arrive whole within ${ms} ms` : `the client sent nothing for ${ms} ms before its request body was whole`;
      refuse(res, 408, 'request_timeout', `tokenlay: ${what} (${read.length} bytes came); this gateway's limit is ${flag} (${env}). Send the body at once, or raise the limit.`, { account, headers: { connection: 'close' } });
      return;
    }
    if (!read.ok) {
      res.shouldKeepAlive = false;
      refuse(res, 413, 'request_too_large', `tokenlay: the request body is over ${read.length >= maxBodyBytes ? maxBodyBytes : read.length} bytes; this gateway takes at most ${maxBodyBytes} bytes (--max-body, TOKENLAY_MAX_BODY).`, { account, headers: { connection: 'close' } });
      return;
    }
    let body: string | Buffer | undefined = read.bytes;
    if (body !== undefined && isJsonType(req.headers['content-type'])) {
      const text = body.toString('utf8');
      const problem = jsonProblem(text);
      if (problem !== undefined) return refuse(res, 400, 'invalid_json', `tokenlay: the request body is not valid JSON (${problem}). Send a JSON object, as the OpenAI API takes.`, { account });
      body = text;
    }

    const controller = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) controller.abort();
    };
    res.once('close', onClose);
    let answer: Response;
    try {
      answer = await engine.handle({
        url,
        method: req.method ?? 'GET',
        headers: callHeaders(req.headers, account),
        body: typeof body === 'string' || body === undefined ? body : (new Uint8Array(body.buffer, body.byteOffset, body.byteLength) as Uint8Array<ArrayBuffer>),
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) return;
      log?.error({ account, err: (err as Error)?.message }, 'call failed in the gateway');
      return sendError(res, 500, { message: 'tokenlay: the gateway failed to handle this call; see its log.', type: 'tokenlay_gateway_error', code: 'gateway_error' });
    }
    await writeAnswer(res, answer, idleMs, clientIdleMs);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    let path = q >= 0 ? raw.slice(0, q) : raw;
    const search = q >= 0 ? raw.slice(q) : '';
    // The official client's base ends in "/v1/", so its paths arrive as "/v1//chat/completions".
    if (path.includes('//')) path = path.replace(/\/{2,}/g, '/');
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/metrics' && req.method === 'GET') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (dashboard.owns(path)) return dashboard.serve(req, res);
    if (!path.startsWith(CALL_PREFIX)) {
      return sendError(res, 404, { message: `tokenlay: no such endpoint ${req.method} ${path}. OpenAI API calls go to /v1/<path>; see docs/protocol.md.`, type: 'invalid_request_error', code: 'not_found' });
    }
    // Resolved before anything else, so that no later step sees a path that leaves /v1/.
    const resolved = resolveCallPath(path);
    if (!resolved.ok) return refuse(res, 400, 'path_not_allowed', resolved.message);
    path = resolved.path;
    const account = await authenticate(req, res);
    if (account === undefined) return;
    if (path === '/v1/health' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    if (path === '/v1/usage' && req.method === 'GET') return answerUsage(res, search.slice(1), store, account, now());
    if (isAdminPath(path)) {
      return answerAdmin({ req, res, path, query: search.slice(1), account, admin: await keys.isAdmin(account), engine, bodyTimeoutMs, idleTimeoutMs: clientIdleMs });
    }
    return proxy(req, res, path, search, account);
  }

  function handler(req: IncomingMessage, res: ServerResponse): void {
    if (closing) {
      res.shouldKeepAlive = false;
      return sendError(res, 503, { message: 'tokenlay: the gateway is shutting down; retry on another instance.', type: 'tokenlay_gateway_error', code: 'shutting_down' }, { 'retry-after': '1' });
    }
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) for (const done of drained) done();
    });
    client.run(clientAddress(req, trustProxy), () => route(req, res)).catch((err: unknown) => {
      log?.error({ err: (err as Error)?.message }, 'request failed in the gateway');
      sendError(res, 500, { message: 'tokenlay: the gateway failed to handle this request; see its log.', type: 'tokenlay_gateway_error', code: 'gateway_error' });
    });
  }

  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let closed: Promise<void> | undefined;

  async function shutdown(): Promise<void> {
    closing = true;
    watcher?.close();
    const stopped = server ? new Promise<void>((r) => server!.close(() => r())) : Promise.resolve();
    server?.closeIdleConnections();
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        drained.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
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
      return inFlight;
    },
  };
  // The gateway is itself the request listener: http.createServer(createGateway()) works.
  return Object.defineProperties(handler, Object.getOwnPropertyDescriptors(api)) as Gateway;
}
