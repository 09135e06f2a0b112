import { neverRetryBlocks } from './block-answer.js';
import { currentScope } from '../scope/context.js';
import { DEBUG_HEADER, logCall, takeCallInfo, type CallInfo } from './debug-line.js';
import { sendWithKeys } from './proxy-send.js';
import { createEmbeddedFetch } from '../engine/embedded.js';
import { TokenlayConfigError } from '../errors.js';
import { onWorkers } from '../node-builtins.js';
import { observeResponse } from './observe.js';
import type { ResolvedConnection } from './options.js';
import { PROVIDER_BASE_HEADER, PROVIDER_KEY_HEADER, REPORT_HEADERS } from '../protocol/names.js';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const kInner = Symbol.for('tokenlay.innerFetch');

/** @internal The fetch a transport wraps: the app's own, never one of ours (no double counting). */
export function innerFetchOf(fetchImpl: Fetch | undefined): Fetch {
  const given = fetchImpl as (Fetch & { [kInner]?: Fetch }) | undefined;
  return given?.[kInner] ?? given ?? ((input, init) => globalThis.fetch(input, init));
}

/** Adds the provider's key and base for the proxy to forward to (docs/protocol.md §1). */
function addProviderHeaders(headers: Headers, connection: ResolvedConnection, providerKey: string): void {
  headers.set(PROVIDER_KEY_HEADER, providerKey);
  headers.set(PROVIDER_BASE_HEADER, connection.providerApiBase);
}

/** Provider SDKs that send their key in a header of their own: Anthropic's and Google's. */
const SDK_KEY_HEADERS = ['x-api-key', 'x-goog-api-key'];

/** The key an Anthropic or Gemini SDK put in its own header, taken off: the proxy gets it as the provider key. */
function sdkNativeKey(headers: Headers): string | undefined {
  let key: string | undefined;
  for (const name of SDK_KEY_HEADERS) {
    key ??= headers.get(name) ?? undefined;
    headers.delete(name);
  }
  return key;
}

/** The debug info a client put on the call, taken off the headers so it is never sent. */
function takeInfo(init: RequestInit): CallInfo | undefined {
  const given = init.headers;
  if (given instanceof Headers) return takeCallInfo(given);
  // openai 4 hands a plain object; convert it only when it carries a debug id.
  if (given && !Array.isArray(given) && DEBUG_HEADER in given) {
    const headers = new Headers(given);
    init.headers = headers;
    return takeCallInfo(headers);
  }
  return undefined;
}

/** The SDK builds a fresh `Headers` per attempt (openai 5+): set on it rather than copy it. */
function ownHeaders(init: RequestInit | undefined): Headers {
  return init?.headers instanceof Headers ? init.headers : new Headers(init?.headers);
}

/**
 * @internal The fetch under a `TokenlayOpenAI`. Remote: adds the provider headers at the last
 * moment (after the SDK has logged the request, so the provider key is never logged). Embedded:
 * hands the call to the in-process engine. Both: read the answer's metadata into the request scope.
 */
export function createTransport(connection: ResolvedConnection, inner: Fetch): { fetch: Fetch; close: () => Promise<void> } {
  let send: Fetch;
  let close = async () => {};
  if (connection.mode === 'embedded') {
    if (onWorkers()) {
      throw new TokenlayConfigError(
        'tokenlay: embedded mode (a policy or store, and no tokenlayKey) runs the policy engine in-process, with SQLite, rule files and a tokenizer, which Cloudflare Workers cannot run. Use remote mode: set tokenlayKey (env TOKENLAY_KEY) and tokenlayBaseUrl (env TOKENLAY_BASE_URL) to the hosted proxy or to your own `tokenlay gateway`.',
      );
    }
    const embedded = createEmbeddedFetch(connection.engine, inner);
    send = (input, init) => {
      const headers = ownHeaders(init);
      // The engine sends it where the provider takes it (Authorization, Anthropic's x-api-key, Gemini's x-goog-api-key).
      if (connection.providerApiKey) headers.set(PROVIDER_KEY_HEADER, connection.providerApiKey);
      return embedded(input, { ...init, headers });
    };
    close = async () => embedded.close?.();
  } else {
    send = (input, init) => {
      const headers = ownHeaders(init);
      // The provider key: the client's, else (createTokenlayFetch without providerApiKey) the one
      // the SDK put in its own Authorization.
      const nativeKey = sdkNativeKey(headers);
      const sdkKey = headers.get('authorization')?.replace(/^Bearer\s+/i, '') || nativeKey;
      headers.set('authorization', `Bearer ${connection.tokenlayKey}`);
      addProviderHeaders(headers, connection, connection.providerApiKey || sdkKey || '');
      return sendWithKeys(inner, input instanceof Request ? input.url : String(input), { ...init, headers });
    };
  }
  const transport: Fetch & { [kInner]?: Fetch } = async function tokenlayTransport(input, init) {
    const usage = currentScope()?.usage;
    const info = init?.headers ? takeInfo(init) : undefined;
    let response: Response;
    try {
      response = await neverRetryBlocks(await send(input, init));
    } catch (error) {
      if (info) logCall(info, { error });
      throw error;
    }
    if (info) {
      const h = response.headers;
      logCall(info, { status: response.status, rule: h.get(REPORT_HEADERS.ruleId), action: h.get(REPORT_HEADERS.ruleAction), model: h.get(REPORT_HEADERS.model) });
    }
    return observeResponse(response, usage, init?.signal);
  };
  transport[kInner] = inner;
  return { fetch: transport, close };
}
