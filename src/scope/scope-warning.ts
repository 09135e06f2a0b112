// Shared by the ESM and CJS builds, like the scope storage itself.
const STATE_KEY = Symbol.for('tokenlay.scopeWarning');
const state: { middleware: boolean; warned: boolean } = ((globalThis as Record<symbol, { middleware: boolean; warned: boolean } | undefined>)[STATE_KEY] ??= { middleware: false, warned: false });

/** @internal An adapter's `tokenlay()` was created: calls outside every scope are now suspicious. */
export function noteMiddleware(): void {
  state.middleware = true;
}

/**
 * @internal Warns once per process when a call is made outside every request scope while a
 * `tokenlay()` middleware is installed: the call goes out unattributed, and user limits cannot
 * apply to it. Where no middleware is installed (scripts, jobs), calls outside a scope are normal.
 */
export function warnOutsideScope(): void {
  if (!state.middleware || state.warned) return;
  state.warned = true;
  process.emitWarning(
    'tokenlay: an LLM call was made outside every request scope although a tokenlay() middleware is installed, so it carries no user. ' +
      'Mount tokenlay() before the route that made it, or bind work that leaves its request with bindTokenlay(fn) or runWithTokenlay(fields, fn).',
    { code: 'TOKENLAY_OUTSIDE_SCOPE' },
  );
}

/** @internal For tests: forget that the warning was given. */
export function resetScopeWarning(): void {
  state.warned = false;
}
