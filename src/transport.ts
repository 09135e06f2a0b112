import { currentScope } from './context.js';
import { createEmbeddedFetch } from './engine/embedded.js';
import { TokenlayConfigError } from './errors.js';
import { onWorkers } from './node-builtins.js';
import { observeResponse } from './observe.js';
import type { ResolvedConnection } from './options.js';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const kInner = Symbol.for('tokenlay.innerFetch');

/** @internal The fetch a transport wraps: the app's own, never one of ours (no double counting). */
export function innerFetchOf(fetchImpl: Fetch | undefined): Fetch {
  const given = fetchImpl as (Fetch & { [kInner]?: Fetch }) | undefined;
  return given?.[kInner] ?? given ?? ((input, init) => globalThis.fetch(input, init));
}

/** @internal Adds the provider's key and base for the proxy to forward to (PROTOCOL.md §1). */
export function addProviderHeaders(headers: Headers, connection: ResolvedConnection, providerKey = connection.providerApiKey): void {
  headers.set('x-tokenlay-provider-key', providerKey);
  headers.set('x-tokenlay-provider-base', connection.providerApiBase);
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
    const embedded = createEmbeddedFetch(
      {
        rules: connection.engine.policy,
        store: connection.engine.store,
        prices: connection.engine.prices,
        unknownModels: connection.engine.unknownModels,
        now: connection.engine.now,
      },
      inner,
    );
    send = (input, init) => {
      if (!connection.providerApiKey) return embedded(input, init);
      const headers = ownHeaders(init);
      headers.set('authorization', `Bearer ${connection.providerApiKey}`);
      return embedded(input, { ...init, headers });
    };
    close = async () => embedded.close?.();
  } else {
    send = (input, init) => {
      const headers = ownHeaders(init);
      headers.set('authorization', `Bearer ${connection.tokenlayKey}`);
      addProviderHeaders(headers, connection);
      return inner(input, { ...init, headers });
    };
  }
  const transport: Fetch & { [kInner]?: Fetch } = async function tokenlayTransport(input, init) {
    const usage = currentScope()?.usage;
    const response = await send(input, init);
    return observeResponse(response, usage, init?.signal);
  };
  transport[kInner] = inner;
  return { fetch: transport, close };
}
