import { readReportHeaders, readReportTrailer, type TokenlayMetadata } from '../protocol/report.js';

export type { TokenlayMetadata };

/** @internal Where one call's metadata lands: at once from headers, or later from a stream's trailer. */
export interface MetadataHolder {
  metadata: TokenlayMetadata | null;
  /** A streamed answer's metadata is final only once the stream has ended. */
  streaming: boolean;
  ended: boolean;
}

/** @internal Metadata from the `x-tokenlay-*` answer headers, or `null` when there are none. */
export const metadataFromHeaders = readReportHeaders;

/** @internal Metadata from a stream's `: x-tokenlay {json}` trailer, over what the headers said. */
export const metadataFromTrailer = readReportTrailer;

// Shared by the ESM and CJS builds, so either one reads what the other recorded.
const REGISTRY_KEY = Symbol.for('tokenlay.metadata.registry');
const registry: WeakMap<object, MetadataHolder> = ((globalThis as any)[REGISTRY_KEY] ??= new WeakMap());

/** @internal Links an object (response, abort signal, parsed body) to its call's metadata. */
export function linkMetadata(target: object, holder: MetadataHolder): void {
  registry.set(target, holder);
}

/**
 * @internal Links what the SDK parsed from an answer (a completion, a `Stream`, a `.parse()`
 * result) to the metadata of the answer it was parsed from, for as long as the body lives.
 */
export function linkParsed(body: unknown, response: object): void {
  if (body === response || !body || typeof body !== 'object') return;
  const holder = registry.get(response);
  if (holder) registry.set(body, holder);
}

function holderOf(value: any): MetadataHolder | undefined {
  if (!value || typeof value !== 'object') return undefined;
  return (
    registry.get(value) ??
    // A streamed OpenAI call returns a `Stream` whose abort controller is the one fetch was given.
    (value.controller?.signal ? registry.get(value.controller.signal) : undefined) ??
    // `.withResponse()` gives `{ data, response }`.
    (value.response && value.data !== undefined ? holderOf(value.response) : undefined)
  );
}

/**
 * What the proxy answered for a call: the completion (or any body) returned by `TokenlayOpenAI`,
 * its `Stream`, the `{ data, response }` of `.withResponse()`, or a `Response` from `tokenlayFetch`
 * or `createTokenlayFetch` (another SDK's parsed body is not linked: pass its `Response`).
 * For a stream the metadata is complete once the stream has ended; before that, `null`.
 * Returns `null` when the answer carried no Tokenlay metadata.
 */
export function getTokenlayMetadata(responseOrStream: unknown): TokenlayMetadata | null {
  const holder = holderOf(responseOrStream);
  if (holder) return holder.streaming && !holder.ended ? null : holder.metadata;
  if (responseOrStream instanceof Response) return metadataFromHeaders(responseOrStream.headers);
  return null;
}
