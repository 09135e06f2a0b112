/** The error code of a call refused because the counter store cannot be reached. */
export const STORE_UNAVAILABLE_CODE = 'tokenlay_store_unavailable';

/**
 * Thrown by a store whose backend (Redis) cannot be reached and whose policy is `closed`: the
 * engine answers the call 503 `tokenlay_store_unavailable` instead of letting it past a hard cap.
 */
export class TokenlayStoreUnavailableError extends Error {
  readonly code = STORE_UNAVAILABLE_CODE;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenlayStoreUnavailableError';
  }
}

/** Whether `error` says the store is unreachable (also across bundled copies of this module). */
export function isStoreUnavailable(error: unknown): error is TokenlayStoreUnavailableError {
  return error instanceof TokenlayStoreUnavailableError || (error as { code?: unknown } | null)?.code === STORE_UNAVAILABLE_CODE;
}
