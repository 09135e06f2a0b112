import { neverRetryBlocks } from './block-answer.js';
import { currentScope } from '../scope/context.js';
import { logCall, takeCallInfo } from './debug-line.js';
import { failureAnswer, sendWithKeys } from './proxy-send.js';
import { createEmbeddedFetch, toEngineCall } from '../engine/embedded.js';
import { TokenlayConfigError } from '../errors.js';
import { onWorkers } from '../node-builtins.js';
import { InProcessReport, observeResponse } from './observe.js';
import { remoteBudget, type BudgetSource } from './budget.js';
import type { ResolvedConnection } from './options.js';
import type { Engine } from '../engine/types.js';
import { PROVIDER_BASE_HEADER, PROVIDER_KEY_HEADER, REPORT_HEADERS } from '../protocol/names.js';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const kInner = Symbol.for('tokenlay.innerFetch');

/** @internal The fetch a transport wraps: the app's own, never one of ours (no double counting). */
export function innerFetchOf(fetchImpl: Fetch | undefined): Fetch {
  const given = fetchImpl as (Fetch & { [kInner]?: Fetch }) | undefined;
  return given?.[kInner] ?? given ?? ((input, init) => globalThis.fetch(input, init));
}

function cleanFields(fields: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
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
    const value = headers.get(name);
    if (value === null) continue;
    key ??= value;
    headers.delete(name);
  }
  return key;
}

/** The SDK builds a fresh `Headers` per attempt (openai 5+): set on it rather than copy it. */
function ownHeaders(init: RequestInit | undefined): Headers {
  return init?.headers instanceof Headers ? init.headers : new Headers(init?.headers);
}

/** @internal How a transport reports failures. */
export interface TransportOptions {
  /**
   * Answer a failure the transport explained (an unreachable proxy, a refused redirect) with a
   * {@link failureAnswer} rather than throw it: for the OpenAI SDK, which reads only answers
   * through a method a client can override. Default: throw, as a `fetch` does.
   */
  answerFailures?: boolean;
}

/**
 * The init to send with these headers. Both callers of a transport (the OpenAI SDK, every major,
 * and `createTokenlayFetch`) build a fresh init for each attempt, so it is changed in place, as
 * the debug info is taken off it, rather than copied.
 */
function ownInit(init: RequestInit | undefined, headers: Headers): RequestInit {
  if (!init) return { headers };
  init.headers = headers;
  return init;
}

/**
 * @internal The fetch under a `TokenlayOpenAI`. Remote: adds the provider headers at the last
 * moment (after the SDK has logged the request, so the provider key is never logged). Embedded:
 * hands the call to the in-process engine. Both: read the answer's metadata into the request scope.
 */
export function createTransport(
  connection: ResolvedConnection,
  inner: Fetch,
  { answerFailures = false }: TransportOptions = {},
): { fetch: Fetch; close: () => Promise<void>; budget: BudgetSource['read']; engine?: Engine } {
  let send: (input: string | URL | Request, init: RequestInit | undefined, report: InProcessReport | undefined) => Promise<Response>;
  let close = async () => {};
  let budget: BudgetSource['read'];
  let engine: Engine | undefined;
  if (connection.mode === 'embedded') {
    if (onWorkers()) {
      throw new TokenlayConfigError(
        'tokenlay: embedded mode (a policy or store, and no tokenlayKey) runs the policy engine in-process, with SQLite, rule files and a tokenizer, which Cloudflare Workers cannot run. Use remote mode: set tokenlayKey (env TOKENLAY_KEY) and tokenlayBaseUrl (env TOKENLAY_BASE_URL) to the hosted proxy or to your own `tokenlay gateway`.',
      );
    }
    const embedded = createEmbeddedFetch(connection.engine, inner);
    send = async (input, init, report) => {
      const headers = ownHeaders(init);
      // The engine sends it where the provider takes it (Authorization, Anthropic's x-api-key, Gemini's x-goog-api-key).
      if (connection.providerApiKey) headers.set(PROVIDER_KEY_HEADER, connection.providerApiKey);
      const call = await toEngineCall(input, ownInit(init, headers));
      // The engine's report comes back as an object: its headers are for remote clients.
      call.reportTo = report;
      return embedded.engine.handle(call);
    };
    close = async () => embedded.close?.();
    budget = (fields, runs) => embedded.engine.budget(cleanFields(fields), runs);
    engine = embedded.engine;
  } else {
    const proxyAuthorization = `Bearer ${connection.tokenlayKey}`;
    send = (input, init) => {
      const headers = ownHeaders(init);
      const nativeKey = sdkNativeKey(headers);
      // The provider key: the client's, else (createTokenlayFetch without providerApiKey) the one
      // the SDK put in its own Authorization.
      const providerKey = connection.providerApiKey || headers.get('authorization')?.replace(/^Bearer\s+/i, '') || nativeKey || '';
      headers.set('authorization', proxyAuthorization);
      addProviderHeaders(headers, connection, providerKey);
      return sendWithKeys(inner, input instanceof Request ? input.url : String(input), ownInit(init, headers));
    };
    budget = remoteBudget(connection.tokenlayUrl, connection.tokenlayKey, inner);
  }
  const embeddedMode = connection.mode === 'embedded';
  const transport: Fetch & { [kInner]?: Fetch } = async function tokenlayTransport(input, init) {
    const usage = currentScope()?.usage;
    const info = takeCallInfo(init);
    const report = embeddedMode ? new InProcessReport() : undefined;
    let response: Response;
    try {
      response = await neverRetryBlocks(await send(input, init, report), report?.answered);
    } catch (error) {
      if (info) logCall(info, { error });
      const answer = answerFailures ? failureAnswer(error) : undefined;
      if (answer) return answer;
      throw error;
    }
    if (info) {
      const answered = report?.answered;
      if (answered) logCall(info, { status: response.status, rule: answered.ruleId, action: answered.ruleAction, model: answered.model, decoded: true });
      else {
        const h = response.headers;
        logCall(info, { status: response.status, rule: h.get(REPORT_HEADERS.ruleId), action: h.get(REPORT_HEADERS.ruleAction), model: h.get(REPORT_HEADERS.model) });
      }
    }
    return observeResponse(response, usage, init?.signal, report);
  };
  transport[kInner] = inner;
  return { fetch: transport, close, budget, ...(engine ? { engine } : {}) };
}
