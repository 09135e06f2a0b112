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
const RECENT_KEY = Symbol.for('tokenlay.metadata.recent');
const recent: Map<string, MetadataHolder> = ((globalThis as any)[RECENT_KEY] ??= new Map());
/**
 * How many answered calls stay findable by request id alone. A parsed body is tied to its call by
 * the `_request_id` the OpenAI SDK sets on it from the answer's `x-request-id`; once looked up it
 * is linked for as long as the body lives. Bodies never looked up are forgotten after this many
 * later calls, so the map stays bounded however many calls an app makes.
 */
export const RECENT_CALLS = 10_000;
/** @internal Property under which a parsed body points to its call's metadata. */
export const BODY_KEY = Symbol.for('tokenlay.metadata');

/** @internal Links an object (response, abort signal, parsed body) to its call's metadata. */
export function linkMetadata(target: object, holder: MetadataHolder): void {
  registry.set(target, holder);
}

/** @internal Makes a call's metadata findable from any body the SDK stamps with `requestId`. */
export function linkRequestId(requestId: string, holder: MetadataHolder): void {
  recent.delete(requestId);
  recent.set(requestId, holder);
  if (recent.size > RECENT_CALLS) recent.delete(recent.keys().next().value as string);
}

function byRequestId(value: any): MetadataHolder | undefined {
  // openai 4.5x to 7 define `_request_id` on every parsed object body, whatever reads the body.
  const id = value._request_id;
  if (typeof id !== 'string') return undefined;
  const holder = recent.get(id);
  if (holder) registry.set(value, holder);
  return holder;
}

function holderOf(value: any): MetadataHolder | undefined {
  if (!value || typeof value !== 'object') return undefined;
  return (
    registry.get(value) ??
    (value[BODY_KEY] as MetadataHolder | undefined) ??
    byRequestId(value) ??
    // A streamed OpenAI call returns a `Stream` whose abort controller is the one fetch was given.
    (value.controller?.signal ? registry.get(value.controller.signal) : undefined) ??
    // `.withResponse()` gives `{ data, response }`.
    (value.response && value.data !== undefined ? holderOf(value.response) : undefined)
  );
}

/**
 * What the proxy answered for a call: the completion returned by `TokenlayOpenAI`, its `Stream`,
 * the `{ data, response }` of `.withResponse()`, or a `Response` from `tokenlayFetch`.
 * For a stream the metadata is complete once the stream has ended; before that, `null`.
 * Returns `null` when the answer carried no Tokenlay metadata.
 */
export function getTokenlayMetadata(responseOrStream: unknown): TokenlayMetadata | null {
  const holder = holderOf(responseOrStream);
  if (holder) return holder.streaming && !holder.ended ? null : holder.metadata;
  if (responseOrStream instanceof Response) return metadataFromHeaders(responseOrStream.headers);
  return null;
}
