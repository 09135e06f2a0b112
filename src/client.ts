import OpenAI, { type ClientOptions } from 'openai';
import { currentScope, resolveScope } from './context.js';
import { createLimitError, isEnforcementAnswer } from './errors.js';
import { normalizeFields, type FieldInput, type FieldRecord, type TokenlayFields } from './fields.js';
import { fieldsToHeaders, headersToFields, HEADER_PREFIX } from './headers.js';
import { resolveConnection, type ResolvedConnection, type TokenlayConnectionOptions } from './options.js';
import { createTransport, innerFetchOf } from './transport.js';

/**
 * Options of {@link TokenlayOpenAI}: every `OpenAI` client option, plus where calls go.
 * `apiKey` and `baseURL` are set from the Tokenlay options and should not be passed.
 */
export interface TokenlayOpenAIOptions extends Omit<ClientOptions, 'apiKey' | 'baseURL'>, TokenlayConnectionOptions {}

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const kConfig = Symbol('tokenlay.config');
// util.inspect's hook, by its registered name: node:util is not loaded on Workers.
const inspectCustom = Symbol.for('nodejs.util.inspect.custom');
const KEY_PLACEHOLDER = 'set-by-tokenlay';

/** Header entries of a per-call `headers` option, whatever shape it came in. */
function headerEntries(headers: unknown): Array<[string, unknown]> {
  if (!headers) return [];
  if (typeof (headers as Headers).entries === 'function' && typeof (headers as Headers).get === 'function') {
    return [...(headers as Headers).entries()];
  }
  if (Array.isArray(headers)) return headers as Array<[string, unknown]>;
  return Object.entries(headers as Record<string, unknown>);
}

const BARE = new Set(['user', 'org', 'plan', 'project', 'feature']);

/**
 * Merges the scope's fields with a call's explicit headers. Explicit `x-tokenlay-*` (and bare
 * field) headers win; a `null` one removes the field. Everything is re-encoded and checked, so
 * the limits hold for the headers that will actually be sent.
 */
function mergeCallHeaders(fields: FieldRecord, explicit: unknown): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  const given: Record<string, string> = {};
  const removed: string[] = [];
  for (const [name, value] of headerEntries(explicit)) {
    const lower = name.toLowerCase();
    const isField = lower.startsWith(HEADER_PREFIX) ? !['x-tokenlay-provider-key', 'x-tokenlay-provider-base'].includes(lower) : BARE.has(lower);
    if (!isField) {
      rest[name] = value;
    } else if (value === null) {
      removed.push(...Object.keys(headersToFields({ [lower]: 'x' }, { bare: true })));
    } else if (value !== undefined) {
      given[lower] = String(value);
    }
  }
  const merged: FieldRecord = { ...fields, ...headersToFields(given, { bare: true }) };
  for (const name of removed) delete merged[name];
  return { ...fieldsToHeaders(merged), ...rest };
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
 * @throws {TokenlayConfigError} at construction when a key is missing, naming the option and its env var.
 */
export class TokenlayOpenAI extends OpenAI {
  private readonly [kConfig]: { options: TokenlayOpenAIOptions; connection: ResolvedConnection; fields: FieldRecord; inner: Fetch; close: () => Promise<void> };

  constructor(options: TokenlayOpenAIOptions = {}) {
    const connection = resolveConnection(options);
    const inner = innerFetchOf((options as ClientOptions).fetch as Fetch | undefined);
    const { fetch: transport, close } = createTransport(connection, inner);
    const remote = connection.mode === 'remote';
    super({
      ...(options as ClientOptions),
      // The real key is set by the transport after the SDK has logged the request: openai 4
      // logs headers unredacted with DEBUG=true, and `apiKey` shows in the client's own fields.
      apiKey: KEY_PLACEHOLDER,
      baseURL: remote ? connection.tokenlayUrl : connection.providerApiBase,
      defaultHeaders: { ...connection.headers, ...(options as ClientOptions).defaultHeaders },
      fetch: transport as ClientOptions['fetch'],
    });
    this[kConfig] = { options, connection, fields: connection.fields, inner, close };
  }

  /** Where calls go: `remote` (through a proxy) or `embedded` (the policy engine in-process). */
  get tokenlayMode(): 'remote' | 'embedded' {
    return this[kConfig].connection.mode;
  }

  /** This client, for code written for the first `@tokenlay/sdk`, which wrapped an `OpenAI`. */
  get openai(): this {
    return this;
  }

  /** Adds fields that every later call of this client carries (below request scopes). */
  updateMetadata(metadata: TokenlayFields & FieldInput): void {
    this[kConfig].fields = { ...this[kConfig].fields, ...normalizeFields(metadata) };
  }

  /**
   * Embedded mode: waits for calls in flight to settle, writes the usage ledger and closes the
   * store. Call it on shutdown. Remote mode: nothing to do.
   */
  async close(): Promise<void> {
    await this[kConfig].close();
  }

  /** Asks the proxy whether it is up and accepts the key (`GET /v1/health`). */
  async healthCheck(): Promise<{ status: 'ok' | 'error'; message?: string }> {
    const { connection } = this[kConfig];
    if (connection.mode === 'embedded') return { status: 'ok' };
    try {
      const response = await this[kConfig].inner(`${connection.tokenlayUrl}/health`, {
        headers: { authorization: `Bearer ${connection.tokenlayKey}` },
      });
      return response.ok ? { status: 'ok' } : { status: 'error', message: `HTTP ${response.status} from ${connection.tokenlayUrl}/health` };
    } catch (err) {
      return { status: 'error', message: `${connection.tokenlayUrl}/health is unreachable: ${(err as Error).message}` };
    }
  }

  override withOptions(options: Partial<ClientOptions>): this {
    // The copy keeps the Tokenlay options, which `OpenAI#withOptions` does not know about.
    const base = this[kConfig].options;
    return new (this.constructor as any)({ ...base, fetch: (base as ClientOptions).fetch, ...options, metadata: this[kConfig].fields });
  }

  /** Fields are resolved when the call is made, so the scope's identity is the one at call time. */
  protected override async prepareOptions(options: any): Promise<void> {
    await super.prepareOptions(options);
    const resolved = resolveScope(currentScope());
    const fields = { ...this[kConfig].fields, ...(resolved instanceof Promise ? await resolved : resolved) };
    options.headers = mergeCallHeaders(fields, options.headers);
  }

  protected override makeStatusError(status: number, error: any, message: string | undefined, headers: any): any {
    if (isEnforcementAnswer(error?.error, headers)) return createLimitError(status, error, message, headers);
    return super.makeStatusError(status, error, message, headers);
  }

  /** Keys never show in logs or the REPL. */
  [inspectCustom](): string {
    const { connection } = this[kConfig];
    return `TokenlayOpenAI { mode: '${connection.mode}', baseURL: '${this.baseURL}', providerApiBase: '${connection.providerApiBase}', keys: [redacted] }`;
  }

  override toString(): string {
    return this[inspectCustom]();
  }

  toJSON(): Record<string, string> {
    const { connection } = this[kConfig];
    return { mode: connection.mode, baseURL: this.baseURL, providerApiBase: connection.providerApiBase };
  }
}
