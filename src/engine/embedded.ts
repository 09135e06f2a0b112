import { createEngine } from './engine.js';
import type { Engine, EngineCall, EngineConfig } from './types.js';

/** The fetch of embedded mode: calls go through the in-process engine straight to the provider. */
export type EmbeddedFetch = typeof fetch & {
  /** The engine behind this fetch. */
  readonly engine: Engine;
  /** Waits for settlements in flight, writes the ledger, and closes a store the engine opened. */
  close(): Promise<void>;
};

/** @internal A fetch call as the engine takes it (the embedded client adds its report hand-off). */
export async function toEngineCall(input: RequestInfo | URL, init: RequestInit | undefined): Promise<EngineCall> {
  if (input instanceof Request) {
    const headers = new Headers(input.headers);
    new Headers(init?.headers).forEach((value, name) => headers.set(name, value));
    const json = (headers.get('content-type') ?? '').includes('json');
    const body = init?.body !== undefined ? init.body : !input.body ? undefined : json ? await input.text() : await input.arrayBuffer();
    return { url: input.url, method: init?.method ?? input.method, headers, body, signal: init?.signal ?? input.signal };
  }
  return {
    url: String(input),
    method: init?.method ?? 'GET',
    headers: new Headers(init?.headers),
    body: init?.body,
    signal: init?.signal ?? undefined,
  };
}

/**
 * A `fetch` that runs each call through the policy engine in-process: the rules apply, usage is
 * metered and settled in the store, and only admitted calls reach the provider, through
 * `innerFetch` (default: the global fetch). Give it to the OpenAI SDK with the provider's base URL
 * and key; a blocked call then surfaces as the SDK's API error (429 → `RateLimitError`).
 *
 * ```ts
 * const embeddedFetch = createEmbeddedFetch({ rules: './tokenlay.rules.yaml', store: 'sqlite:./.tokenlay/usage.db' });
 * const openai = new OpenAI({ apiKey: process.env.OPENAI_API_KEY, fetch: embeddedFetch });
 * // on shutdown: await embeddedFetch.close();
 * ```
 *
 * @throws {TokenlayRulesError} at once when the rules are malformed.
 */
export function createEmbeddedFetch(config: EngineConfig, innerFetch?: typeof fetch): EmbeddedFetch {
  const engine = createEngine({ ...config, fetch: config.fetch ?? innerFetch });
  const embedded = async function tokenlayEmbeddedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    return engine.handle(await toEngineCall(input, init));
  };
  return Object.assign(embedded, { engine, close: () => engine.close() }) as EmbeddedFetch;
}
