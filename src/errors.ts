// No OpenAI import here: the stores and the metering throw these without loading the SDK.

/** Base class of the errors tokenlay itself raises before or around a call. */
export class TokenlayError extends Error {
  override name = 'TokenlayError';
}

/**
 * A client, store or engine option is missing or invalid: thrown at construction, naming the
 * option, the value (secrets redacted) and the fix.
 */
export class TokenlayConfigError extends TokenlayError {
  override name = 'TokenlayConfigError';
}

/** A field cannot be sent as a header: bad name, value not well-formed Unicode or over 256 characters, or over 8 KiB in all. */
export class TokenlayHeaderError extends TokenlayError {
  override name = 'TokenlayHeaderError';
  /** The field that broke the limit. */
  readonly field: string;
  /** Which limit: the field's name, one value's length or its encoding (a lone surrogate), or all headers together. */
  readonly limit: 'name' | 'value' | 'encoding' | 'total';
  constructor(message: string, details: { field: string; limit: 'name' | 'value' | 'encoding' | 'total' }) {
    super(message);
    this.field = details.field;
    this.limit = details.limit;
  }
}

/** A scope operation was used where it cannot work, e.g. `setTokenlayContext` outside a scope. */
export class TokenlayScopeError extends TokenlayError {
  override name = 'TokenlayScopeError';
}

/** The limit a blocked call hit, as the proxy or the embedded engine reported it. */
export interface TokenlayLimit {
  type: 'requests' | 'tokens' | 'cost' | 'concurrent' | (string & {});
  window: string;
  per: string | string[];
  max: number;
  current: number;
  /** ISO 8601 time at which the window resets, when known (`resets_at` in the raw body, `error.error`). */
  resetsAt?: string;
}
