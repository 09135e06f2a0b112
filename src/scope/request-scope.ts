import { emptyUsage, newRun, type Scope, type TokenlayUsage } from './context.js';
import type { RunCaps } from '../protocol/run-budget.js';
import { canonicalField, normalizeFields, type FieldInput, type FieldRecord } from '../protocol/fields.js';
import { headersToFields, type HeaderSource } from '../protocol/headers.js';
import { noteMiddleware } from './scope-warning.js';

/** What the identity of a request may be read as: sync, or async (a session or database lookup). */
export type Identify<Req> = (req: Req) => FieldInput | undefined | null | Promise<FieldInput | undefined | null>;

/** Options every framework adapter takes. */
export interface TokenlayMiddlewareOptions<Req> {
  /**
   * Reads the fields of a request. Runs when an LLM call is made, not when the request arrives,
   * so it sees what auth middleware set later. Defaults to the framework's usual place for the
   * authenticated user. An async result that names a user is reused for the rest of the request.
   */
  identify?: Identify<Req>;
  /**
   * Fields every request carries, e.g. `{ project: 'support-bot' }`. Identity wins over them.
   * In a `tokenlay()` mounted inside another (a router for one feature), they and `identify` are
   * an inner layer: they win over the outer middleware's fields and identity.
   */
  fields?: FieldInput;
  /**
   * Called once when the response has finished or the connection closed, with the request's roll-up.
   * A nested `tokenlay()` calls its own, with the same roll-up.
   */
  onFinish?: (usage: TokenlayUsage, req: Req) => void;
  /**
   * Reads `x-tokenlay-*` headers sent by the caller as fields. Off by default: a caller must never
   * choose whose budget it spends. Turn it on only behind a trusted upstream that sets them
   * (`true`, or the list of field names to accept). The app's own identity still wins.
   */
  trustHeaders?: boolean | string[];
  /**
   * Caps all LLM calls of each request together, as `runWithTokenlay({ budget })` does: `cost` in
   * USD, `tokens`, `requests`; or a function of the request giving them (undefined: no cap). Past
   * it a call is refused with `TokenlayLimitError`, `limit.type` `run`.
   */
  budget?: RunCaps | ((req: Req) => RunCaps | undefined);
}

/** @internal Opens the scope of one request, or an inner layer of it inside an outer `tokenlay()`. */
export type ScopeOpener<Req> = (req: Req, headers: HeaderSource | undefined, outer?: Scope) => Scope;

// Returned, not assigned: the build keeps function names (keepNames), and a closure that is given
// a name costs an Object.defineProperty on every request.
function identifyLater<Req>(identify: Identify<Req>, req: Req): () => ReturnType<Identify<Req>> {
  return () => identify(req);
}

/**
 * @internal Prepares, once per middleware, what every request scope of it shares (static fields,
 * the trusted header names), and returns the function that opens the scope of one request. The
 * adapter enters that scope around the rest of its framework's pipeline and re-enters it at the
 * framework's async seams. Given the scope of an outer `tokenlay()` of the same request, it opens
 * an inner layer: its own fields and (given) `identify` over the outer ones, the same roll-up.
 */
export function requestScopes<Req>(
  options: TokenlayMiddlewareOptions<Req>,
  defaultIdentify: Identify<Req>,
): ScopeOpener<Req> {
  noteMiddleware();
  const identify = options.identify ?? defaultIdentify;
  const innerIdentify = options.identify;
  const fields = normalizeFields(options.fields);
  const trust = options.trustHeaders;
  const allowed = Array.isArray(trust) ? new Set(trust.map(canonicalField)) : undefined;
  const trusted = (headers: HeaderSource | undefined): FieldRecord => {
    if (!trust || !headers) return {};
    const all = headersToFields(headers);
    if (!allowed) return all;
    const picked: FieldRecord = {};
    for (const [name, value] of Object.entries(all)) if (allowed.has(name)) picked[name] = value;
    return picked;
  };
  const budget = options.budget;
  // A fixed budget is checked once, here, so that a bad one fails at startup.
  if (budget !== undefined && typeof budget !== 'function') newRun(budget, 'tokenlay({ budget })');
  const openRequestScope: ScopeOpener<Req> = function openRequestScope(req, headers, outer) {
    const caps = typeof budget === 'function' ? budget(req) : budget;
    return {
      parent: outer,
      // Never mutated (`set` takes later additions), so requests without trusted headers share it.
      fields: trust ? { ...fields, ...trusted(headers) } : fields,
      // An inner layer adds only an identify it was given: the default one already ran outside.
      resolve: outer ? (innerIdentify ? identifyLater(innerIdentify, req) : undefined) : identifyLater(identify, req),
      set: {},
      usage: outer ? outer.usage : emptyUsage(),
      owner: req,
      opener: openRequestScope,
      // Always present (undefined outside a run): one shape for every scope, no spread per request.
      run: caps ? newRun(caps, 'tokenlay({ budget })') : undefined,
    };
  };
  return openRequestScope;
}

/**
 * @internal Whether `opener` already opened a scope for `req` in the chain from `scope` (the same
 * middleware mounted twice, on the app and on a router): then it adds nothing.
 */
export function openedBy(scope: Scope | undefined, req: unknown, opener: unknown): boolean {
  for (let s = scope; s && s.owner === req; s = s.parent) if (s.opener === opener) return true;
  return false;
}

/**
 * @internal The one nesting rule of every adapter: where a request's scope opens, given the scope
 * current when its `tokenlay()` runs. `null`: this very middleware already opened a scope for
 * `req` (mounted twice, on the app and on a router), so it adds nothing and calls on. A scope: an
 * outer `tokenlay()` of the same request opened it, so this one opens an inner layer of it.
 * `undefined`: no scope of this request yet (none, or another request's), so it opens the first.
 */
export function outerScope(current: Scope | undefined, req: unknown, opener: unknown): Scope | null | undefined {
  if (current?.owner !== req) return undefined;
  return openedBy(current, req, opener) ? null : current;
}

const noFinish = (): void => undefined;

/** @internal Calls `onFinish` at most once, never letting a logging error escape into the server. */
export function finisher<Req>(options: TokenlayMiddlewareOptions<Req>, scope: Scope, req: Req): () => void {
  // Without onFinish there is nothing to call: no closure per request.
  if (!options.onFinish) return noFinish;
  let done = false;
  return () => {
    if (done || !options.onFinish) return;
    done = true;
    try {
      options.onFinish(scope.usage, req);
    } catch (err) {
      const message = `tokenlay: onFinish threw: ${(err as Error)?.message ?? err}`;
      // Workers without nodejs_compat have no `process`.
      const node = (globalThis as { process?: Pick<NodeJS.Process, 'emitWarning'> }).process;
      if (typeof node?.emitWarning === 'function') node.emitWarning(message);
      else console.warn(message);
    }
  };
}
