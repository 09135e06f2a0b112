import type OpenAI from 'openai';

/** A request body whose `model` may be left out: a rule's `then.model` routes such a call. */
export type ModelOptional<B> = B extends { model: infer M } ? Omit<B, 'model'> & { model?: M } : B;

type Create = OpenAI['chat']['completions']['create'];

/**
 * The SDK's own `create` overloads (non-streaming, streaming, either), each taking a body without
 * `model`. Read from the installed SDK rather than restated, so its types stay the SDK's.
 */
type ModelOptionalCreate<F> = F extends {
  (body: infer B1, options?: infer O1): infer R1;
  (body: infer B2, options?: infer O2): infer R2;
  (body: infer B3, options?: infer O3): infer R3;
}
  ? {
      (body: ModelOptional<B1>, options?: O1): R1;
      (body: ModelOptional<B2>, options?: O2): R2;
      (body: ModelOptional<B3>, options?: O3): R3;
    }
  : F;

/**
 * `openai.chat` of a `TokenlayOpenAI`: the SDK's, where `chat.completions.create({ messages })`
 * may leave out `model`. Such a call is routed by the rules, or answered 400 `model_required`.
 */
export type TokenlayChat = OpenAI['chat'] & {
  completions: OpenAI['chat']['completions'] & { create: ModelOptionalCreate<Create> };
};
