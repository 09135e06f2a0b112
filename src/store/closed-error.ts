/** The error every store method gives after `close()`: a use-after-close is a bug in the caller. */
export function storeClosedError(kind: string, method: string): Error {
  return new Error(`tokenlay: ${kind} store is closed; ${method}() was called after close(). Create a new store instead.`);
}
