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
