/** The shape of one call's token usage, apart from its readers so that every metering file can name it. */

/**
 * Why a call's usage is estimated, as its ledger row says (`estimateReason`): `no usage` (the
 * provider reported none), `implausible usage` (it reported counts no call can have: negative,
 * fractional, not numbers, beyond what the model can write), `body cut off` (its 2xx answer broke
 * off), `caller left` (a stream's caller left before it began), `cut off` (shutdown or a fault
 * ended the call).
 */
export type EstimateReason = 'no usage' | 'implausible usage' | 'body cut off' | 'caller left' | 'cut off';

/** Token usage of one call, as the provider reported it or as estimated. */
export interface MeteredUsage {
  /** Prompt tokens, cached ones included (OpenAI counts them in both). */
  inputTokens: number;
  outputTokens: number;
  /** The part of `inputTokens` served from the provider's prompt cache. */
  cachedTokens: number;
  totalTokens: number;
  /** True when the provider reported no (or no believable) usage and counts come from the tokenizer. */
  estimated: boolean;
  /** The part of `inputTokens` written to the provider's prompt cache (Anthropic), when reported. */
  cacheWriteTokens?: number;
  /** The part of `outputTokens` spent reasoning, when reported (reasoning reported on top of the completion is added to `outputTokens`). */
  reasoningTokens?: number;
  /** The part of `inputTokens` that is audio, when reported; priced at the model's audio input rate. */
  inputAudioTokens?: number;
  /** The part of `inputAudioTokens` (and of `cachedTokens`) read from the cache. */
  cachedAudioTokens?: number;
  /** The part of `inputTokens` that is images, when reported; priced at the model's image input rate. */
  inputImageTokens?: number;
  /** The part of `inputImageTokens` (and of `cachedTokens`) read from the cache. */
  cachedImageTokens?: number;
  /** The part of `outputTokens` that is audio, when reported; priced at the model's audio output rate. */
  outputAudioTokens?: number;
  /** The part of `outputTokens` that is images (gpt-image-1, Gemini image output), when reported. */
  outputImageTokens?: number;
  /** Seconds of audio billed by duration (transcription), when reported; seconds, not tokens. */
  audioSeconds?: number;
  /** Why the counts are estimated, when they are and the reason is known. */
  estimateReason?: EstimateReason;
  /** What the provider reported that was not believed, for the call's warning. */
  estimateNote?: string;
}
