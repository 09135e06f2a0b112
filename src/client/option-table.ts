import type { EngineConfig } from '../engine/types.js';

/** How a connection option is given besides its own name. */
interface ConnectionRow {
  /** Other names read when the option is absent, in order (deprecated spellings, the SDK's name). */
  readonly spellings?: readonly string[];
  /** The env var read when no spelling is given. */
  readonly env?: string;
  /** Whether the option names a place (a URL) rather than a key: "did you mean" picks by it. */
  readonly url?: boolean;
}

/**
 * The one table of the options `TokenlayOpenAI` and `createTokenlayFetch` read besides the
 * embedded ones: their spellings and env vars. The names the client keeps from the OpenAI SDK, the
 * "did you mean" of a misspelt option and the env defaults are all read from here, so a new option
 * is one row here and one documented field in `TokenlayConnectionOptions`.
 */
export const CONNECTION_OPTIONS = {
  // OPENAI_API_KEY is read after these, and only for OpenAI's own base (see resolveConnection).
  providerApiKey: { spellings: ['provider_api_key', 'apiKey'], env: 'PROVIDER_API_KEY' },
  providerApiBase: { spellings: ['provider_api_base', 'provider_base_url'], env: 'PROVIDER_API_BASE', url: true },
  tokenlayKey: { spellings: ['tokenlay_key'], env: 'TOKENLAY_KEY' },
  tokenlayBaseUrl: { spellings: ['tokenlay_base_url'], env: 'TOKENLAY_BASE_URL', url: true },
  extraHeaders: { spellings: ['extra_headers'] },
  metadata: {},
  debug: { env: 'TOKENLAY_DEBUG' },
} as const satisfies Record<string, ConnectionRow>;

export type ConnectionOption = keyof typeof CONNECTION_OPTIONS;

/** How an embedded option reaches the engine. */
interface EngineRow {
  /** The name of the same setting in `EngineConfig`. */
  readonly engine: keyof EngineConfig;
  /** Whether giving the option turns on embedded mode. */
  readonly embedded?: boolean;
}

/**
 * The one table of the options that run the engine in-process, each with its name in
 * `EngineConfig`: the copy into the engine is made from it. Every field of `EmbeddedOptions` must
 * have a row (`options.ts` has the type check that says so).
 */
export const ENGINE_OPTIONS = {
  policy: { engine: 'rules', embedded: true },
  store: { engine: 'store', embedded: true },
  ledger: { engine: 'ledger', embedded: true },
  onStoreError: { engine: 'onStoreError' },
  prices: { engine: 'prices' },
  unknownModels: { engine: 'unknownModels' },
  customFields: { engine: 'customFields' },
  now: { engine: 'now' },
  streamIdleTimeout: { engine: 'streamIdleTimeout' },
  closeTimeout: { engine: 'closeTimeout' },
  closeOnExit: { engine: 'closeOnExit' },
} as const satisfies Record<string, EngineRow>;

/** Every name the client reads (options, spellings, embedded options): never handed to the OpenAI SDK. */
export const OPTION_NAMES: ReadonlySet<string> = new Set([
  ...Object.keys(ENGINE_OPTIONS),
  ...Object.entries(CONNECTION_OPTIONS).flatMap(([name, row]: [string, ConnectionRow]) => [name, ...(row.spellings ?? [])]),
]);

/** An option by its name or, when absent, by its first spelling that is given. */
export function givenOption(options: object, name: ConnectionOption): unknown {
  const row: ConnectionRow = CONNECTION_OPTIONS[name];
  const record = options as Record<string, unknown>;
  let value = record[name];
  for (const spelling of row.spellings ?? []) value ??= record[spelling];
  return value;
}

/** The env var of an option, if it has one. */
export function envNameOf(name: ConnectionOption): string | undefined {
  return (CONNECTION_OPTIONS[name] as ConnectionRow).env;
}

/** The connection option a misspelt one most likely meant: by its prefix (`provider`, `tokenlay`), then by whether it names a place. */
export function likelyOption(prefix: 'provider' | 'tokenlay', isPlace: boolean): ConnectionOption {
  const names = Object.keys(CONNECTION_OPTIONS) as ConnectionOption[];
  return names.find((name) => name.startsWith(prefix) && ((CONNECTION_OPTIONS[name] as ConnectionRow).url === true) === isPlace)!;
}

/** Whether the options run the engine in-process (a policy, store or ledger is given). */
export function isEmbedded(options: object): boolean {
  return Object.entries(ENGINE_OPTIONS).some(([name, row]: [string, EngineRow]) => row.embedded === true && (options as Record<string, unknown>)[name] !== undefined);
}

/** The engine's configuration from the embedded options, by the table. */
export function engineConfigOf(options: object): EngineConfig {
  const config: Record<string, unknown> = {};
  for (const [name, row] of Object.entries(ENGINE_OPTIONS) as [string, EngineRow][]) {
    config[row.engine] = (options as Record<string, unknown>)[name];
  }
  return config as EngineConfig;
}
