import { TokenlayConfigError } from '../errors.js';
import { checkOptionNames } from './option-names.js';
import { engineConfigOf, envNameOf, givenOption, isEmbedded, type ConnectionOption, type ENGINE_OPTIONS } from './option-table.js';
import { normalizeFields, WELL_KNOWN_FIELDS, type FieldInput, type FieldRecord, type TokenlayFields } from '../protocol/fields.js';
import { fieldsToHeaders, headersToFields, HEADER_PREFIX } from '../protocol/headers.js';
import type { EngineConfig } from '../engine/types.js';

/** The hosted Tokenlay proxy. */
export const DEFAULT_TOKENLAY_BASE_URL = 'https://api.tokenlay.com';
/** OpenAI's API. */
export const DEFAULT_PROVIDER_API_BASE = 'https://api.openai.com/v1';

/** Embedded mode: the policy engine runs in-process and calls go straight to the provider. */
export interface EmbeddedOptions {
  /** Rules in the `@tokenlay/rules` format: a path to a `.json`/`.yaml` file, or the rules object. Turns on embedded mode. */
  policy?: string | object;
  /**
   * Where counters and the usage ledger live: `'memory'`, `'sqlite:<path>'` (needs better-sqlite3
   * 12), or a store object. Default: env `TOKENLAY_STORE`, else `'memory'`, which resets with the
   * process; use `'sqlite:./.tokenlay/usage.db'` for budgets that survive restarts.
   */
  store?: EngineConfig['store'];
  /**
   * The usage ledger apart from the counters, e.g. `'postgres://user:password@host:5432/db'` (needs
   * pg) next to `store: 'redis://…'`; or `'sqlite:<path>'`, `'memory'`, a ledger object. Default: env
   * `TOKENLAY_LEDGER`, else the store's own ledger. Turns on embedded mode.
   */
  ledger?: EngineConfig['ledger'];
  /** While a Redis store is unreachable: `'closed'` (default; calls get 503 `tokenlay_store_unavailable`) or `'open'` (admitted uncounted). Env `TOKENLAY_ON_STORE_ERROR`. */
  onStoreError?: 'closed' | 'open';
  /** Prices in USD per million tokens for models the price database does not know, or to override it. */
  prices?: Record<string, { input: number; output: number; cachedInput?: number }>;
  /** Custom field names your app sends (beyond user, org, plan, project, feature), so rules may use them; a name one edit from a known field is otherwise refused as a typo. */
  customFields?: readonly string[];
  /** What to do with a model that has no price: cost 0 with a warning (default), or refuse the call. */
  unknownModels?: 'zero' | 'refuse';
  /** The clock, for tests of window roll-over. */
  now?: () => number;
  /**
   * ms without a byte moving on a streamed answer, from the provider or to your code, before it is
   * cancelled (the reader gets an error saying so) and settled for what was delivered. Default 60 000.
   */
  streamIdleTimeout?: number;
  /** ms that `close()` waits for calls in flight to finish before settling them as cut off. Default 30 000. */
  closeTimeout?: number;
  /** On SIGTERM/SIGINT, await `close()` and then end the process with the signal; for apps without a shutdown handler of their own. Default false. */
  closeOnExit?: boolean;
}

// Every embedded option has a row in the option table, which copies it into the engine: a field
// added above without one fails to compile here, naming it.
type EmbeddedOptionWithoutRow = Exclude<keyof EmbeddedOptions, keyof typeof ENGINE_OPTIONS>;
const _everyEmbeddedOptionHasARow: [EmbeddedOptionWithoutRow] extends [never] ? true : EmbeddedOptionWithoutRow = true;

/** How calls reach the provider, shared by `TokenlayOpenAI` and `createTokenlayFetch`. */
export interface TokenlayConnectionOptions extends EmbeddedOptions {
  /**
   * The provider's API key, forwarded to the provider. Default: `apiKey`, else env
   * `PROVIDER_API_KEY`, else env `OPENAI_API_KEY` when the provider base is OpenAI's.
   */
  providerApiKey?: string;
  /** The OpenAI SDK's name for the provider key; read when `providerApiKey` is absent. */
  apiKey?: string;
  /**
   * Logs one line per call to stderr: mode, each field with where it came from (scope, identify,
   * client metadata, call metadata, call headers), model, rule and action. Never keys or prompts.
   * Default: env `TOKENLAY_DEBUG=1`.
   */
  debug?: boolean;
  /** The provider's base URL. Default: env `PROVIDER_API_BASE`, else `https://api.openai.com/v1`. */
  providerApiBase?: string;
  /** Your Tokenlay key; needed to go through a proxy. Default: env `TOKENLAY_KEY`. */
  tokenlayKey?: string;
  /** The proxy: the hosted one or your `tokenlay gateway`. Default: env `TOKENLAY_BASE_URL`, else `https://api.tokenlay.com`. */
  tokenlayBaseUrl?: string;
  /** Fields every call of this client carries; request scopes win over them. */
  metadata?: TokenlayFields & FieldInput;
  /** Headers every call carries. `x-tokenlay-<field>` and bare `user`/`org`/`plan`/`project`/`feature` are read as fields. */
  extraHeaders?: Record<string, string>;
  /** @deprecated spelling of the first SDK; use `providerApiKey`. */
  provider_api_key?: string;
  /** @deprecated spelling of the first SDK; use `providerApiBase`. */
  provider_api_base?: string;
  /** @deprecated spelling of the official `@tokenlay/sdk`; use `providerApiBase`. */
  provider_base_url?: string;
  /** @deprecated spelling of the first SDK; use `tokenlayKey`. */
  tokenlay_key?: string;
  /** @deprecated spelling of the first SDK; use `tokenlayBaseUrl`. */
  tokenlay_base_url?: string;
  /** @deprecated spelling of the first SDK; use `extraHeaders`. */
  extra_headers?: Record<string, string>;
}

/** @internal */
export interface ResolvedConnection {
  mode: 'remote' | 'embedded';
  providerApiKey: string;
  providerApiBase: string;
  /** Whether `providerApiBase` was given (option or env) rather than the default. */
  providerApiBaseGiven: boolean;
  tokenlayKey: string | undefined;
  /** The proxy's `/v1` URL (remote mode). */
  tokenlayUrl: string;
  /** Client-level fields: metadata, then field-like extra headers over it. */
  fields: FieldRecord;
  /** Extra headers that are not fields. */
  headers: Record<string, string>;
  /** The engine's configuration (embedded mode), copied from the embedded options by the option table. */
  engine: EngineConfig;
  /** Log one line per call (`debug` or env `TOKENLAY_DEBUG`). */
  debug: boolean;
}

function env(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  // Workers without nodejs_compat have no `process`.
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/** An option, else its spellings, else its env var (option table). */
function optionOrEnv(options: TokenlayConnectionOptions, name: ConnectionOption): string | undefined {
  return (givenOption(options, name) as string | undefined) ?? env(envNameOf(name));
}

/** Whether a string that should have been a URL looks like a key pasted into the wrong option. */
function looksLikeKey(value: string): boolean {
  return /^(sk|tl|pk|rk)[-_]/i.test(value) || value.length >= 40 || (value.length >= 16 && /^[\w-]+$/.test(value));
}

/** A non-URL as it may be shown in an error: a key-like value is never echoed. */
function shownValue(value: string): string {
  if (looksLikeKey(value)) return `[a ${value.length}-character value that looks like a key, not shown]`;
  return JSON.stringify(value.replace(/\/\/[^/@]*@/, '//***@'));
}

function checkUrl(value: string, option: ConnectionOption): string {
  const envName = envNameOf(option);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TokenlayConfigError(
      `tokenlay: ${option} ${shownValue(value)} is not a URL. Pass an absolute http(s) URL as \`${option}\` or in env ${envName}.`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TokenlayConfigError(`tokenlay: ${option} must be an http(s) URL, got ${JSON.stringify(url.protocol)}.`);
  }
  // fetch refuses a URL with credentials, and the error it gives would print them.
  if (option === 'tokenlayBaseUrl' && (url.username !== '' || url.password !== '')) {
    throw new TokenlayConfigError(
      `tokenlay: ${option} "${url.protocol}//***@${url.host}${url.pathname}" carries a user name or password, which fetch cannot send. Remove them from the URL and pass the Tokenlay key as \`tokenlayKey\` (env TOKENLAY_KEY).`,
    );
  }
  return value.replace(/\/+$/, '');
}

/** `<base>/v1`, unless the base already ends in `/v1` (docs/protocol.md §1). */
export function proxyV1Url(base: string): string {
  return /\/v1$/.test(base) ? base : `${base}/v1`;
}

function splitExtraHeaders(extra: Record<string, string> | undefined): { fields: FieldRecord; headers: Record<string, string> } {
  const fields: FieldRecord = {};
  const headers: Record<string, string> = {};
  if (!extra) return { fields, headers };
  const fieldLike: Record<string, string> = {};
  for (const [name, value] of Object.entries(extra)) {
    const lower = name.toLowerCase();
    if (lower.startsWith(HEADER_PREFIX) || (WELL_KNOWN_FIELDS as readonly string[]).includes(lower)) fieldLike[lower] = value;
    else headers[name] = value;
  }
  Object.assign(fields, headersToFields(fieldLike, { bare: true }));
  return { fields, headers };
}

function isOpenAIBase(base: string): boolean {
  return new URL(base).hostname === 'api.openai.com';
}

/** Whether `TOKENLAY_DEBUG` asks for the per-call log line. */
function debugFromEnv(): boolean {
  const value = env(envNameOf('debug'));
  return value !== undefined && !['0', 'false', 'no', 'off'].includes(value.toLowerCase());
}

/** @internal Applies spellings, env defaults and checks; throws naming the option and its env var. */
export function resolveConnection(options: TokenlayConnectionOptions, kind: 'client' | 'fetch' = 'client'): ResolvedConnection {
  checkOptionNames(options);
  const embedded = isEmbedded(options);
  const givenBase = optionOrEnv(options, 'providerApiBase');
  const providerApiBase = checkUrl(givenBase ?? DEFAULT_PROVIDER_API_BASE, 'providerApiBase');
  // OPENAI_API_KEY comes last and only for OpenAI itself: it must never be sent to another provider.
  const providerApiKey = optionOrEnv(options, 'providerApiKey') ?? (isOpenAIBase(providerApiBase) ? env('OPENAI_API_KEY') : undefined);
  const tokenlayKey = optionOrEnv(options, 'tokenlayKey');
  const tokenlayBase = checkUrl(optionOrEnv(options, 'tokenlayBaseUrl') ?? DEFAULT_TOKENLAY_BASE_URL, 'tokenlayBaseUrl');
  if (!providerApiKey && kind === 'client') {
    throw new TokenlayConfigError(
      'tokenlay: providerApiKey is missing. Pass `providerApiKey` (or `apiKey`: your OpenAI or other provider key), ' +
        `or set env PROVIDER_API_KEY${isOpenAIBase(providerApiBase) ? ' or OPENAI_API_KEY' : ''}.`,
    );
  }
  if (!embedded && !tokenlayKey) {
    throw new TokenlayConfigError(
      'tokenlay: tokenlayKey is missing. Pass `tokenlayKey` or set env TOKENLAY_KEY to go through a Tokenlay proxy, ' +
        'or pass `policy` (a rules file or object) to run the policy engine in-process without a proxy.',
    );
  }
  const extra = splitExtraHeaders(givenOption(options, 'extraHeaders') as Record<string, string> | undefined);
  const fields = { ...normalizeFields(options.metadata), ...extra.fields };
  // Client-wide fields that can never be sent fail here, at construction, not on the first call.
  fieldsToHeaders(fields);
  return {
    mode: embedded ? 'embedded' : 'remote',
    providerApiKey: providerApiKey ?? '',
    providerApiBase,
    providerApiBaseGiven: givenBase !== undefined,
    tokenlayKey,
    tokenlayUrl: proxyV1Url(tokenlayBase),
    fields,
    headers: extra.headers,
    engine: engineConfigOf(options),
    debug: options.debug ?? debugFromEnv(),
  };
}
