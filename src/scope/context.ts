import { AsyncLocalStorage } from 'node:async_hooks';
import { normalizeFields, type FieldInput, type FieldRecord, type TokenlayFields } from '../protocol/fields.js';
import { TokenlayConfigError, TokenlayScopeError } from '../errors.js';
import { runCapsProblem, type RunBudget, type RunCaps } from '../protocol/run-budget.js';

/** What every LLM call made in one request scope has used so far. */
export interface TokenlayUsage {
  /** LLM calls that were answered (blocked or failed calls are not counted). */
  calls: number;
  /** Cost in USD, as priced by the proxy or the embedded engine. */
  cost: number;
  inputTokens: number;
  outputTokens: number;
}

/** Resolves the identity of a scope when a call needs it: sync or async. */
export type FieldResolver = () => FieldInput | undefined | null | Promise<FieldInput | undefined | null>;

/** @internal One scope in the chain; request scopes come from adapters, inner ones from `runWithTokenlay`. */
export interface Scope {
  readonly parent: Scope | undefined;
  /** Fields given when the scope was opened. */
  readonly fields: FieldRecord;
  /** Identity read lazily at call time (adapters), so middleware order does not matter. */
  readonly resolve: FieldResolver | undefined;
  /** Fields added by `setTokenlayContext`; they win within the scope. */
  readonly set: FieldRecord;
  /** Shared with every inner scope of the same request. */
  readonly usage: TokenlayUsage;
  /** A settled async identity, reused by later calls and by sync reads. */
  identity?: FieldRecord;
  /** The request (or context) an adapter opened this scope for. */
  readonly owner?: unknown;
  /** The `tokenlay()` middleware that opened it, to tell a nested one from the same one mounted twice. */
  readonly opener?: unknown;
  /** The budget of the run this scope is (`runWithTokenlay({ budget })`, or an adapter's `budget` option). */
  readonly run?: RunBudget | undefined;
}

// One store per process, even when both the ESM and the CJS build are loaded: a scope opened by
// `tokenlay/express` (required) must be seen by a client imported as ESM.
const STORAGE_KEY = Symbol.for('tokenlay.context.storage');
const storage: AsyncLocalStorage<Scope> = ((globalThis as Record<symbol, AsyncLocalStorage<Scope> | undefined>)[STORAGE_KEY] ??= new AsyncLocalStorage<Scope>());

/** @internal */
export function currentScope(): Scope | undefined {
  return storage.getStore();
}

/** @internal */
export function emptyUsage(): TokenlayUsage {
  return { calls: 0, cost: 0, inputTokens: 0, outputTokens: 0 };
}

/** @internal Opens a scope below the current one and runs `fn` in it. */
export function runInScope<R>(
  init: { fields?: FieldInput; resolve?: FieldResolver; usage?: TokenlayUsage; run?: RunBudget },
  fn: () => R,
): R {
  const parent = storage.getStore();
  const scope: Scope = {
    parent,
    fields: normalizeFields(init.fields),
    resolve: init.resolve,
    set: {},
    usage: init.usage ?? parent?.usage ?? emptyUsage(),
    // Always present (undefined outside a run): one shape for every scope, no spread per scope.
    run: init.run,
  };
  return storage.run(scope, fn);
}

/** @internal Runs `fn` in a given scope (re-entering it from a framework callback). */
export function runWithScope<R>(scope: Scope | undefined, fn: () => R): R {
  return scope ? storage.run(scope, fn) : fn();
}

function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}

function keepIdentity(scope: Scope, value: FieldInput | null | undefined): FieldRecord {
  const fields = normalizeFields(value);
  // Only a found user is final for the request; an empty answer may come before auth has run.
  if (fields.user !== undefined) scope.identity = fields;
  return fields;
}

/**
 * A scope's identity now. An async one is a promise when `settle` is set; otherwise it is left
 * to settle (and be kept) in the background, and sync readers get what is known.
 */
function identityOf(scope: Scope, settle: boolean): FieldRecord | Promise<FieldRecord> | undefined {
  if (scope.identity || !scope.resolve) return scope.identity;
  const value = scope.resolve();
  if (!isThenable<FieldInput>(value)) return normalizeFields(value as FieldInput | null | undefined);
  const kept = Promise.resolve(value).then((v) => keepIdentity(scope, v));
  if (settle) return kept;
  kept.catch(() => undefined);
  return undefined;
}

/** Outer scopes first; within a scope its fields, then identity, then what was set. */
function mergeInto(out: FieldRecord, scope: Scope, identity: FieldRecord | undefined): FieldRecord {
  Object.assign(out, scope.fields, identity, scope.set);
  return out;
}

function chainOf(scope: Scope | undefined): Scope[] {
  const chain: Scope[] = [];
  for (let s = scope; s; s = s.parent) chain.push(s);
  return chain;
}

/**
 * @internal For the debug line: which layer of the scope chain each resolved field came from,
 * `identify` for the request's identity, `scope` for fields given or set. Sync identity only.
 */
export function scopeFieldSources(scope: Scope | undefined): Record<string, 'scope' | 'identify'> {
  const chain = chainOf(scope);
  const out: Record<string, 'scope' | 'identify'> = {};
  for (let i = chain.length - 1; i >= 0; i--) {
    const s = chain[i];
    for (const name of Object.keys(s.fields)) out[name] = 'scope';
    for (const name of Object.keys((identityOf(s, false) as FieldRecord | undefined) ?? {})) out[name] = 'identify';
    for (const name of Object.keys(s.set)) out[name] = 'scope';
  }
  return out;
}

/** @internal The fields of a scope chain, innermost winning; sync identity only. */
export function resolveScopeSync(scope: Scope | undefined): FieldRecord {
  if (!scope) return {};
  // Recursion rather than a chain array: a request scope alone (the common case) allocates only
  // the answer.
  return mergeInto(resolveScopeSync(scope.parent), scope, identityOf(scope, false) as FieldRecord | undefined);
}

/**
 * @internal The fields of a scope chain, awaiting async `identify` functions. Sync all the way
 * (the common case) it answers without a promise, so the call path pays no extra turn.
 */
export function resolveScope(scope: Scope | undefined): FieldRecord | Promise<FieldRecord> {
  if (!scope) return {};
  const outer = resolveScope(scope.parent);
  const identity = identityOf(scope, true);
  if (!isThenable(outer) && !isThenable(identity)) return mergeInto(outer, scope, identity);
  return Promise.all([outer, identity]).then(([o, i]) => mergeInto(o, scope, i));
}

/** What `runWithTokenlay` takes besides fields: `budget`, the cap of every call the run makes together. */
export interface RunOptions {
  /**
   * Caps every LLM call made in this async context together, parallel calls included, atomically:
   * `cost` in USD, `tokens` (input and output), `requests` (calls). Past it a call is refused with
   * `TokenlayLimitError` whose `limit.type` is `run` (and `limit.metric` the cap it hit). Nested runs
   * each hold their own cap. Works in embedded mode (the engine reserves on the run's counter) and
   * remote mode (the cap rides on each call as `x-tokenlay-run-budget`, docs/protocol.md §1).
   */
  budget?: RunCaps;
}

/** Fields and a `budget`, as `runWithTokenlay` takes them: `{ user: 'ann', budget: { cost: 0.5 } }`. */
export type RunInput = RunOptions & { [field: string]: string | number | null | undefined | RunCaps };

/** @internal A new run with these caps and a fresh id; throws a TokenlayConfigError for caps that are not positive numbers. */
export function newRun(caps: RunCaps, where: string): RunBudget {
  const problem = runCapsProblem(caps);
  if (problem) throw new TokenlayConfigError(`tokenlay: ${where} budget: ${problem}. E.g. { budget: { cost: 0.5 } } caps the run at $0.50.`);
  return { id: `run_${globalThis.crypto.randomUUID().replace(/-/g, '')}`, ...caps };
}

/** @internal The runs of a scope chain, outer first. */
export function runsOf(scope: Scope | undefined): RunBudget[] {
  const runs: RunBudget[] = [];
  for (let s = scope; s; s = s.parent) if (s.run) runs.unshift(s.run);
  return runs;
}

/**
 * Runs `fn` in a scope carrying `fields`. Scopes nest and merge: inner fields win.
 * Every LLM call made by `fn`, however deep in awaits, timers or streams, carries them.
 * `budget` (not a field) caps all of the run's calls together; see {@link RunOptions}.
 *
 * ```ts
 * await runWithTokenlay({ feature: 'summarize' }, () => openai.chat.completions.create(body));
 * await runWithTokenlay({ budget: { cost: 0.5 } }, () => agent.run(task)); // at most $0.50 in all
 * ```
 *
 * @throws {TokenlayConfigError} when `budget` has no cap or one that is not a positive number.
 */
export function runWithTokenlay<R>(fields: TokenlayFields & FieldInput, fn: () => R): R;
export function runWithTokenlay<R>(fields: TokenlayFields & RunInput, fn: () => R): R;
export function runWithTokenlay<R>(fields: (TokenlayFields & FieldInput) | (TokenlayFields & RunInput), fn: () => R): R {
  if (fields && typeof fields === 'object' && 'budget' in fields) {
    const { budget, ...rest } = fields as RunInput;
    if (budget === undefined) return runInScope({ fields: rest as FieldInput }, fn);
    return runInScope({ fields: rest as FieldInput, run: newRun(budget as RunCaps, 'runWithTokenlay()') }, fn);
  }
  return runInScope({ fields: fields as FieldInput }, fn);
}

/**
 * The resolved fields of the current scope (inner scopes win), or `undefined` outside any scope.
 * An async `identify` is reflected once it has settled; LLM calls always await it.
 */
export function getTokenlayContext(): (TokenlayFields & FieldRecord) | undefined {
  const scope = storage.getStore();
  return scope ? resolveScopeSync(scope) : undefined;
}

/**
 * The fields of the current scope with every async `identify` awaited, as the next LLM call will
 * send them; `undefined` outside a scope.
 */
export async function resolveTokenlayContext(): Promise<(TokenlayFields & FieldRecord) | undefined> {
  const scope = storage.getStore();
  return scope ? resolveScope(scope) : undefined;
}

/**
 * Adds fields to the current scope, e.g. after a plan lookup. The fields win over identity
 * and over outer scopes, for the rest of the scope.
 *
 * @throws {TokenlayScopeError} when called outside a scope.
 */
export function setTokenlayContext(partial: TokenlayFields & FieldInput): void {
  const scope = storage.getStore();
  if (!scope) {
    throw new TokenlayScopeError(
      'tokenlay: setTokenlayContext() was called outside a request scope. Add app.use(tokenlay()) before this route, ' +
        'or wrap the work in runWithTokenlay(fields, fn).',
    );
  }
  Object.assign(scope.set, normalizeFields(partial));
}

/**
 * Binds `fn` to the current scope, for work that a queue, pool or event emitter runs later
 * outside the request's async chain. Outside a scope, returns `fn` unchanged.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any function may be bound: `unknown[]` would refuse typed parameters (contravariance)
export function bindTokenlay<F extends (...args: any[]) => any>(fn: F): F {
  const scope = storage.getStore();
  if (!scope) return fn;
  return function tokenlayBound(this: unknown, ...args: unknown[]) {
    return storage.run(scope, () => fn.apply(this, args));
  } as F;
}

/**
 * What the LLM calls of the current request scope have used so far, or `undefined` outside a scope.
 * The same object keeps filling as calls finish; copy it to keep a snapshot.
 */
export function getTokenlayUsage(): TokenlayUsage | undefined {
  return storage.getStore()?.usage;
}

/**
 * @internal Adds what a call used to the roll-up of the scope that made it. `newCall` is false for
 * usage that arrives after the answer was counted (a stream's trailer, a body's token counts).
 */
export function addUsage(
  usage: TokenlayUsage | undefined,
  call: { cost?: number; inputTokens?: number; outputTokens?: number },
  newCall = true,
): void {
  if (!usage) return;
  if (newCall) usage.calls += 1;
  // Rounded so that sums of decimal prices read as decimals (0.3, not 0.30000000000000004).
  usage.cost = Math.round((usage.cost + (call.cost ?? 0)) * 1e12) / 1e12;
  usage.inputTokens += call.inputTokens ?? 0;
  usage.outputTokens += call.outputTokens ?? 0;
}
