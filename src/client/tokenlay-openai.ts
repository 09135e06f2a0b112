import type OpenAI from 'openai';
import type { ClientOptions } from 'openai';
import { mergeCallFields, type MergedCall } from './call-fields.js';
import type { TokenlayChat } from './chat-types.js';
import { kCallInfo, type CallInfo } from './debug-line.js';
import { TokenlayConfigError } from '../errors.js';
import { createConnectionError, createLimitError } from './errors.js';
import { readBlock } from '../protocol/block.js';
import { normalizeFields, type FieldInput, type FieldRecord, type TokenlayFields } from '../protocol/fields.js';
import { OPTION_NAMES } from './option-table.js';
import { resolveConnection, type ResolvedConnection, type TokenlayConnectionOptions } from './options.js';
import { failureOf } from './proxy-send.js';
import { createTransport, innerFetchOf } from './transport.js';
import { registerBudgetSource, type BudgetSource } from './budget.js';
import { LinkedBodiesOpenAI } from './linked-bodies.js';
import type { Engine } from '../engine/types.js';

/**
 * Options of {@link TokenlayOpenAI}: every `OpenAI` client option, plus where calls go.
 * `apiKey` is read as the provider key when `providerApiKey` is absent; `baseURL` is refused
 * (use `providerApiBase` or `tokenlayBaseUrl`).
 */
export interface TokenlayOpenAIOptions extends Omit<ClientOptions, 'apiKey' | 'baseURL'>, TokenlayConnectionOptions {
  /** Not an option here: calls go to the proxy or the engine. Use `providerApiBase` or `tokenlayBaseUrl`. */
  baseURL?: never;
}

/**
 * Per-call fields, given as `metadata` on `chat.completions.create` (the official `@tokenlay/sdk`
 * name). Keys are field names or their aliases (`userId` → user, `tier` → plan, `projectId` →
 * project); values are strings, as OpenAI's own `metadata` requires. They win over the scope's and
 * the client's fields, and leave the request body unless `store: true`.
 */
export type RequestMetadata = Record<string, string>;

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** What a client and every `withOptions()` copy of it share: one connection, one engine. */
interface Shared {
  connection: ResolvedConnection;
  transport: Fetch;
  close: () => Promise<void>;
  /** Reads a user's budget where this client's calls are counted. */
  budget: BudgetSource['read'];
  /** The app's own fetch under the transport. */
  inner: Fetch;
  /** The in-process engine (embedded mode). */
  engine?: Engine;
}

interface Config {
  shared: Shared;
  fields: FieldRecord;
  /** The OpenAI options the client was made with, without any key. */
  openaiOptions: Record<string, unknown>;
}

// Kept outside the instance: nothing on the client object (Object.entries, inspect without
// customInspect, `_options`) can reach a key.
const configs = new WeakMap<object, Config>();
const kCopyOf = Symbol('tokenlay.copyOf');
const kOriginalHeaders = Symbol('tokenlay.originalHeaders');
const kCallMetadata = Symbol('tokenlay.callMetadata');
const kDebugInfo = Symbol('tokenlay.debugInfo');
const KEY_PLACEHOLDER = 'set-by-tokenlay';
// util.inspect's hook, by its registered name: node:util is not loaded on Workers.
const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

/**
 * Options that are ours (the option table's), or that the client sets itself (`baseURL`, `fetch`):
 * never handed to `OpenAI`, so never in `_options`.
 */
const NOT_FOR_OPENAI: ReadonlySet<string> = new Set([...OPTION_NAMES, 'baseURL', 'fetch']);

/** String-keyed options only: the hand-off between a client and its copies never reaches `OpenAI`. */
function openaiOptionsOf(options: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) if (!NOT_FOR_OPENAI.has(name)) out[name] = value;
  return out;
}

function configOf(client: object): Config {
  const config = configs.get(client);
  if (!config) throw new TypeError('tokenlay: this method must be called on a TokenlayOpenAI client.');
  return config;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Per-call `metadata` of a chat completion (the official `@tokenlay/sdk` per-call fields), read
 * once per call and kept for its retries. It leaves the body unless `store: true`, where OpenAI
 * stores it with the completion.
 */
function takeCallMetadata(options: any): FieldInput | undefined {
  if (kCallMetadata in options) return options[kCallMetadata];
  let metadata: FieldInput | undefined;
  const body = options.body;
  if (typeof options.path === 'string' && options.path.endsWith('/chat/completions') && isPlainObject(body) && isPlainObject(body.metadata)) {
    metadata = body.metadata as FieldInput;
    if (body.store !== true) {
      const { metadata: _sent, ...rest } = body;
      options.body = rest;
    }
  }
  options[kCallMetadata] = metadata;
  return metadata;
}

/** Puts a call's merged headers (and, with `debug`, its debug info) on the SDK's request options. */
function applyMerged(config: Config, options: any, merged: MergedCall): void {
  const { connection } = config.shared;
  options.headers = merged.headers;
  if (connection.debug) options[kDebugInfo] = { mode: connection.mode, model: options.body?.model, fields: merged.fields, sources: merged.sources } satisfies CallInfo;
}

/**
 * An `OpenAI` client whose every call carries the identity of the request that caused it, as
 * `x-tokenlay-*` headers, and goes through a Tokenlay proxy or the embedded policy engine.
 * Create one and share it; each call reads the request scope it is made in.
 *
 * ```ts
 * const openai = new TokenlayOpenAI({ providerApiKey, tokenlayKey });
 * app.use(tokenlay());
 * app.post('/chat', async (req, res) => res.json(await openai.chat.completions.create({ model, messages })));
 * ```
 *
 * @throws {TokenlayConfigError} at construction when a key is missing, naming the option and its
 * env var; when `baseURL` or an unknown Tokenlay-looking option is given.
 */
// The SDK's own types: the base only adds behaviour (see linked-bodies.ts).
export class TokenlayOpenAI extends (LinkedBodiesOpenAI as typeof OpenAI) {
  /** The SDK's chat resource; `chat.completions.create` may leave out `model` for the rules to route. */
  declare chat: TokenlayChat;

  constructor(options: TokenlayOpenAIOptions = {}) {
    const copyOf = (options as { [kCopyOf]?: { shared: Shared; fields: FieldRecord } })[kCopyOf];
    let shared = copyOf?.shared;
    if (!shared) {
      const connection = resolveConnection(options);
      const inner = innerFetchOf((options as ClientOptions).fetch as Fetch | undefined);
      const { fetch, close, budget, engine } = createTransport(connection, inner, { answerFailures: true });
      shared = { connection, transport: fetch, close, inner, budget, ...(engine ? { engine } : {}) };
    }
    const { connection } = shared;
    const openaiOptions = openaiOptionsOf(options);
    super({
      ...(openaiOptions as ClientOptions),
      // The real key is set by the transport after the SDK has logged the request: openai 4
      // logs headers unredacted with DEBUG=true, and `apiKey` shows in the client's own fields.
      apiKey: KEY_PLACEHOLDER,
      baseURL: connection.mode === 'remote' ? connection.tokenlayUrl : connection.providerApiBase,
      defaultHeaders: { ...connection.headers, ...(openaiOptions.defaultHeaders as ClientOptions['defaultHeaders']) },
      fetch: shared.transport as ClientOptions['fetch'],
    });
    configs.set(this, { shared, fields: copyOf?.fields ?? connection.fields, openaiOptions });
    registerBudgetSource(this, { fields: copyOf?.fields ?? connection.fields, read: shared.budget });
  }

  /** Where calls go: `remote` (through a proxy) or `embedded` (the policy engine in-process). */
  get tokenlayMode(): 'remote' | 'embedded' {
    return configOf(this).shared.connection.mode;
  }

  /**
   * Embedded mode: the client's own policy engine, to change budgets while the app runs
   * (`openai.tokenlayEngine.limits.set({ user: 'alice', type: 'cost', max: 50, window: 'month' })`,
   * `.credits.add({ user: 'alice', usd: 10 })`), on whatever store it has, `memory` included.
   * Remote mode: undefined; the proxy keeps the limits (`/v1/admin/limits` of a `tokenlay gateway`).
   */
  get tokenlayEngine(): Engine | undefined {
    return configOf(this).shared.engine;
  }

  /** This client, for code written for the first `@tokenlay/sdk`, which wrapped an `OpenAI`. */
  get openai(): this {
    return this;
  }

  /** Adds fields that every later call of this client carries (below request scopes). */
  updateMetadata(metadata: TokenlayFields & FieldInput): void {
    const config = configOf(this);
    config.fields = { ...config.fields, ...normalizeFields(metadata) };
  }

  /**
   * Replaces the provider key for every later call (key rotation), of this client and of every
   * `withOptions()` copy of it.
   *
   * @throws {TokenlayConfigError} when the key is empty or not a string.
   */
  updateProviderKey(providerApiKey: string): void {
    if (typeof providerApiKey !== 'string' || providerApiKey.trim() === '') {
      throw new TokenlayConfigError(`tokenlay: updateProviderKey() needs a non-empty string, got ${providerApiKey === '' ? 'an empty string' : typeof providerApiKey}. Pass the new provider key.`);
    }
    configOf(this).shared.connection.providerApiKey = providerApiKey;
  }

  /**
   * Embedded mode: waits for calls in flight to settle, writes the usage ledger and closes the
   * store, which `withOptions()` copies share. Call it once, on shutdown. Remote mode: nothing to do.
   */
  async close(): Promise<void> {
    await configOf(this).shared.close();
  }

  /** Asks the proxy whether it is up and accepts the key (`GET /v1/health`). */
  async healthCheck(): Promise<{ status: 'ok' | 'error'; message?: string }> {
    const { connection } = configOf(this).shared;
    if (connection.mode === 'embedded') return { status: 'ok' };
    try {
      const response = await configOf(this).shared.inner(`${connection.tokenlayUrl}/health`, { headers: { authorization: `Bearer ${connection.tokenlayKey}` } });
      return response.ok ? { status: 'ok' } : { status: 'error', message: `HTTP ${response.status} from ${connection.tokenlayUrl}/health` };
    } catch (err) {
      return { status: 'error', message: `${connection.tokenlayUrl}/health is unreachable: ${(err as Error).message}` };
    }
  }

  /**
   * A copy with other OpenAI options (`timeout`, `maxRetries`, headers) for one call site. It
   * shares this client's connection and engine: rules, store, calls in flight and the keys, so
   * limits hold across copies. `metadata` adds fields for the copy's calls.
   *
   * @throws {TokenlayConfigError} when given keys, URLs or engine options: make a new client for those.
   */
  override withOptions(options: Partial<ClientOptions> & { metadata?: TokenlayFields & FieldInput }): this {
    const config = configOf(this);
    const foreign = Object.keys(options).filter((name) => NOT_FOR_OPENAI.has(name) && name !== 'metadata' && name !== 'fetch');
    if (foreign.length > 0) {
      throw new TokenlayConfigError(
        `tokenlay: withOptions() cannot change ${foreign.map((n) => `\`${n}\``).join(', ')}: a copy shares the keys, URLs, rules and store of the client it came from. ` +
          'Create another TokenlayOpenAI for a different connection.',
      );
    }
    let shared = config.shared;
    if (options.fetch) {
      if (shared.connection.mode === 'embedded') {
        throw new TokenlayConfigError('tokenlay: withOptions() cannot change `fetch` in embedded mode: the copy shares the engine, which sends through the fetch the client was made with.');
      }
      const inner = innerFetchOf(options.fetch as Fetch);
      shared = { ...shared, transport: createTransport(shared.connection, inner, { answerFailures: true }).fetch, inner };
    }
    const fields = { ...config.fields, ...normalizeFields(options.metadata) };
    const copy = { ...config.openaiOptions, ...openaiOptionsOf(options), [kCopyOf]: { shared, fields } };
    return new (this.constructor as new (o: object) => this)(copy);
  }

  /** Fields are resolved when the call is made, so the scope's identity is the one at call time. */
  // Not async: with a sync scope (the common case) the call's headers are merged without a promise
  // of their own, beside the SDK's hook (which reads only the client's own API key).
  protected override prepareOptions(options: any): Promise<void> {
    const sdk = super.prepareOptions(options);
    const config = configOf(this);
    let pending: MergedCall | Promise<MergedCall>;
    try {
      // Each attempt merges from the headers the caller gave, not from the previous attempt's.
      if (!(kOriginalHeaders in options)) options[kOriginalHeaders] = options.headers;
      pending = mergeCallFields(config.fields, takeCallMetadata(options), options[kOriginalHeaders], config.shared.connection.debug);
    } catch (error) {
      sdk.catch(() => undefined);
      throw error;
    }
    if (!(pending instanceof Promise)) {
      applyMerged(config, options, pending);
      return sdk;
    }
    return Promise.all([sdk, pending]).then(([, merged]) => applyMerged(config, options, merged));
  }

  /** The debug info of the attempt rides on its fetch init to the transport (openai 4 to 7 copy the init, symbols included). */
  // Not async: no promise of its own on every call.
  protected override prepareRequest(request: RequestInit, context: { url: string; options: any }): Promise<void> {
    const info = context.options[kDebugInfo] as CallInfo | undefined;
    if (info) (request as RequestInit & { [kCallInfo]?: CallInfo })[kCallInfo] = info;
    return super.prepareRequest(request, context as Parameters<OpenAI['prepareRequest']>[1]);
  }

  /**
   * A block is a typed limit error. A failure the transport explained (which URL could not be
   * reached, which redirect was refused) comes as an answer of its own, so that it is not
   * reported as a bare "Connection error." (see `failureAnswer`).
   */
  protected override makeStatusError(status: number, error: any, message: string | undefined, headers: any): any {
    const failure = failureOf(headers, error);
    if (failure) return createConnectionError(failure);
    if (readBlock(status, headers, error)) return createLimitError(status, error, message, headers);
    return super.makeStatusError(status, error, message, headers);
  }

  /** Keys never show in logs or the REPL. */
  [inspectCustom](): string {
    const { connection } = configOf(this).shared;
    return `TokenlayOpenAI { mode: '${connection.mode}', baseURL: '${this.baseURL}', providerApiBase: '${connection.providerApiBase}', keys: [redacted] }`;
  }

  override toString(): string {
    return this[inspectCustom]();
  }

  toJSON(): Record<string, string> {
    const { connection } = configOf(this).shared;
    return { mode: connection.mode, baseURL: this.baseURL, providerApiBase: connection.providerApiBase };
  }
}
