import { TokenlayRulesError } from '../policy/errors.js';

/**
 * Whether an error thrown by admission or a usage read-out came from the store (locked,
 * unreachable, closed) rather than from the call or the rules: those are answered 503 before the
 * provider is called. Programming errors (TypeError, RangeError) and rule errors are not.
 */
export function isStoreFault(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof TokenlayRulesError || error instanceof TypeError || error instanceof RangeError) return false;
  if (error.name === 'AbortError') return false;
  return true;
}
