import OpenAI from 'openai';
import { linkParsed } from './metadata.js';

/** The part of the SDK's `APIPromise` (openai 4 to 7) through which a parsed body is linked. */
interface Unwrappable {
  _thenUnwrap(transform: (data: unknown, props: { response: Response }) => unknown): Unwrappable;
  [kSdkThenUnwrap]?: Unwrappable['_thenUnwrap'];
}
const kSdkThenUnwrap = Symbol('tokenlay.sdkThenUnwrap');
type SdkPromise<Rsp> = ReturnType<typeof OpenAI.prototype.request<Rsp>>;

/** Links what the SDK parsed to the metadata of the answer it came from (the `Response` the transport linked). */
function linkParsedBody(data: unknown, props: { response: Response }): unknown {
  linkParsed(data, props.response);
  return data;
}

/**
 * The call's promise, parsing as the SDK's does and linking the body it parses. A resource that
 * turns the body into another object (`chat.completions.parse`, `responses.parse`) does so with
 * `_thenUnwrap`: the object it returns is linked too.
 */
function linkedPromise(promise: Unwrappable): Unwrappable {
  const linked = promise._thenUnwrap(linkParsedBody);
  linked[kSdkThenUnwrap] = linked._thenUnwrap;
  linked._thenUnwrap = thenUnwrapLinked;
  return linked;
}

function thenUnwrapLinked(this: Unwrappable, transform: Parameters<Unwrappable['_thenUnwrap']>[0]): Unwrappable {
  return linkedPromise(this[kSdkThenUnwrap]!.call(this, transform));
}

/**
 * @internal The SDK's client, where the body each call parses (a completion, a `Stream`, what
 * `.withResponse()` gives as `data`) is tied to the call's metadata, for `getTokenlayMetadata`.
 * `request()` is the SDK's public method under every resource call in openai 4 to 7, and
 * `_thenUnwrap` the one through which each resource post-processes a body: both see the
 * `Response` the body was parsed from, which the transport has linked to the call's metadata.
 */
export class LinkedBodiesOpenAI extends OpenAI {
  // Typed by the openai 6 this package builds against; `TokenlayOpenAI` shows whichever SDK is
  // installed, as it extends this class typed as `typeof OpenAI`.
  override request<Rsp>(options: Parameters<OpenAI['request']>[0], remainingRetries?: number | null): SdkPromise<Rsp> {
    return linkedPromise(super.request<Rsp>(options, remainingRetries) as unknown as Unwrappable) as unknown as SdkPromise<Rsp>;
  }
}
