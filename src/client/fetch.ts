import { mergeCallFields } from './call-fields.js';
import { currentScope } from '../scope/context.js';
import { DEBUG_HEADER, holdCallInfo, type CallInfo } from './debug-line.js';
import type { FieldRecord } from '../protocol/fields.js';
import { observeResponse } from './observe.js';
import { resolveConnection, type TokenlayConnectionOptions } from './options.js';
import { createTransport, innerFetchOf } from './transport.js';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * Headers of the call with the fields merged in, by the same rules as `TokenlayOpenAI`. With
 * `debug`, the call's debug info rides along to the transport (embedded) or is logged here.
 */
async function withScopeHeaders(
  input: string | URL | Request,
  init: RequestInit | undefined,
  base: FieldRecord,
  debug?: { mode: 'remote' | 'embedded' },
): Promise<{ headers: Headers; info?: CallInfo }> {
  const given = new Headers(input instanceof Request ? input.headers : undefined);
  new Headers(init?.headers).forEach((value, name) => given.set(name, value));
  const merged = await mergeCallFields(base, undefined, given, debug !== undefined);
  const headers = new Headers();
  for (const [name, value] of Object.entries(merged.headers)) if (typeof value === 'string') headers.set(name, value);
  if (!debug) return { headers };
  return { headers, info: { mode: debug.mode, model: modelOf(init?.body), fields: merged.fields, sources: merged.sources } };
}

/** The model named in a JSON string body, for the debug line. */
function modelOf(body: unknown): string | undefined {
  if (typeof body !== 'string' || body.length > 1_000_000) return undefined;
  try {
    const model = JSON.parse(body)?.model;
    return typeof model === 'string' ? model : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A drop-in `fetch` that adds the current scope's `x-tokenlay-*` headers and records the answer's
 * usage in the request's roll-up. For any fetch-based SDK that already points at a Tokenlay proxy:
 *
 * ```ts
 * const openai = createOpenAI({ baseURL: 'https://api.tokenlay.com/v1', fetch: tokenlayFetch }); // Vercel AI SDK
 * ```
 */
export async function tokenlayFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const usage = currentScope()?.usage;
  const { headers } = await withScopeHeaders(input, init, {});
  const response = await globalThis.fetch(input, { ...init, headers });
  return observeResponse(response, usage, init?.signal);
}

/** Options of {@link createTokenlayFetch}. */
export interface TokenlayFetchOptions extends TokenlayConnectionOptions {
  /** The fetch that sends the call. Default: the global `fetch`. */
  fetch?: Fetch;
}

/** A `Request` taken apart into its URL and init, so the call can be re-addressed. */
function unpack(input: string | URL | Request, init: RequestInit | undefined): [string, RequestInit] {
  if (!(input instanceof Request)) return [String(input), { ...init }];
  const request: RequestInit & { duplex?: 'half' } = { method: input.method, signal: input.signal, ...init };
  if (init?.body === undefined && input.body) {
    request.body = input.body;
    request.duplex = 'half';
  }
  return [input.url, request];
}

/** The path of a provider URL below its `/v1` (or below `providerApiBase`). */
function providerPath(url: string, providerApiBase: string): string {
  if (url.startsWith(providerApiBase + '/')) return url.slice(providerApiBase.length);
  const at = url.indexOf('/v1/');
  if (at === -1) {
    throw new TypeError(`tokenlay: cannot route ${new URL(url).origin}${new URL(url).pathname} through the proxy: its path has no /v1/ and it is not under providerApiBase ${providerApiBase}.`);
  }
  return url.slice(at + 3);
}

/**
 * A `fetch` for any fetch-based SDK (Vercel AI SDK `createOpenAI({ fetch })`, LangChain
 * `configuration.fetch`) that routes its calls through a Tokenlay proxy, or the embedded engine
 * when `policy` is given, with the scope's fields, the Tokenlay key and the provider headers.
 * Calls go to `providerApiBase` (through the proxy, or straight from the engine) whatever base
 * the SDK was given. The provider key is taken from `providerApiKey`, else from the SDK's own
 * `Authorization`.
 */
export function createTokenlayFetch(options: TokenlayFetchOptions = {}): Fetch {
  const connection = resolveConnection(options, 'fetch');
  // The same transport as TokenlayOpenAI's: keys, redirects, blocks, the debug line and the
  // answer's metadata are handled once, there.
  const transport = createTransport(connection, innerFetchOf(options.fetch)).fetch;
  const base = connection.fields;
  const debug = connection.debug ? { mode: connection.mode } : undefined;
  return async function tokenlayFetchFor(input, init) {
    const { headers, info } = await withScopeHeaders(input, init, base, debug);
    if (info) headers.set(DEBUG_HEADER, holdCallInfo(info));
    for (const [name, value] of Object.entries(connection.headers)) if (!headers.has(name)) headers.set(name, value);
    const [url, request] = unpack(input, init);
    let target: string;
    if (connection.mode === 'remote') target = connection.tokenlayUrl + providerPath(url, connection.providerApiBase);
    // A base given to us wins over the one the SDK was configured with; else the SDK's URL stands.
    else target = connection.providerApiBaseGiven ? connection.providerApiBase + providerPath(url, connection.providerApiBase) : url;
    return transport(target, { ...request, headers });
  };
}
