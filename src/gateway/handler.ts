import type { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Engine } from '../engine/types.js';
import { PROVIDER_BASE_HEADER, PROVIDER_KEY_HEADER } from '../protocol/names.js';
import type { TokenlayStore } from '../store/types.js';
import type { ProviderAllowlist } from './allowlist.js';
import { isJsonType, jsonProblem, readBody } from './body.js';
import { callHeaders } from './call-headers.js';
import { CALL_PREFIX, resolveCallPath, upstreamUrl } from './call-path.js';
import { clientAddress } from './client-address.js';
import type { createDashboardMount } from './dashboard-mount.js';
import { DEFAULT_PROVIDER_BASE } from './defaults.js';
import { sendError, sendJson } from './errors.js';
import type { KeyStore } from './keys.js';
import type { GatewayMetrics } from './metrics.js';
import { writeAnswer } from './respond.js';
import { answerUsage } from './usage-endpoint.js';

/** The last 4 characters of a secret, enough to tell keys apart in a message and no more. */
function redactKey(key: string): string {
  return key.length <= 12 ? '***' : `***${key.slice(-4)}`;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** What the request handler works with, made once by {@link createGateway}'s setup. */
export interface HandlerParts {
  /** The engine in force (rules reloads replace it). */
  engine: () => Engine;
  store: TokenlayStore;
  keys: KeyStore;
  allowlist: ProviderAllowlist;
  metrics: GatewayMetrics;
  dashboard: ReturnType<typeof createDashboardMount>;
  log: Logger | undefined;
  /** The client of the request being handled, for the log lines it causes. */
  client: AsyncLocalStorage<string | undefined>;
  now: () => number;
  trustProxy: boolean;
  /** bytes */
  maxBodyBytes: number;
  /** ms; see GatewayOptions */
  bodyTimeoutMs: number;
  clientIdleMs: number;
  streamIdleMs: number;
}

/** The gateway's request listener, and what its shutdown needs of it. */
export interface RequestHandler {
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly inFlight: number;
  /** From now on, every request is answered 503 `shutting_down`. */
  stopAccepting(): void;
  /** Resolves once no request is in flight, or after `ms`. */
  drained(ms: number): Promise<void>;
}

/**
 * The request handler of the gateway: routes, authenticates the tokenlay key, checks the provider
 * base and the body, hands the call to the engine and writes its answer.
 */
export function createRequestHandler(deps: HandlerParts): RequestHandler {
  const { store, keys, allowlist, metrics, dashboard, log, client, now, trustProxy, maxBodyBytes, bodyTimeoutMs, clientIdleMs } = deps;
  const idleMs = deps.streamIdleMs;

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
      answer = await deps.engine().handle({
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

  return {
    handler,
    get inFlight() {
      return inFlight;
    },
    stopAccepting() {
      closing = true;
    },
    async drained(ms: number) {
      if (inFlight === 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        drained.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
