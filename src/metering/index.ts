export {
  boundRequestTokens,
  estimateOutputTokens,
  estimateRequestTokens,
  estimateUsage,
  GPT_4O_MINI_IMAGE_TOKENS_BOUND,
  IMAGE_TOKENS,
  IMAGE_TOKENS_BOUND,
  LOW_DETAIL_IMAGE_TOKENS,
  UNBOUNDED_INPUT_TOKENS,
} from './estimate.js';
export { listedOutputLimit } from './output-limits.js';
export {
  createPricer,
  DEFAULT_MAX_OUTPUT_TOKENS,
  MAX_OUTPUT_TOKENS,
  MAX_CHOICES,
  reservationEstimate,
  fittingOutput,
  callShape,
  pricedShape,
  type CallShape,
  callerOutputLimit,
  type ReservationOptions,
  type ModelPrice,
  type Pricer,
  type PricerOptions,
  type PriceResult,
  type ReservationEstimate,
} from './prices.js';
export { meterEventStream, type MeterEventStreamOptions, type StreamUsage } from './sse.js';
export { boundTextTokens, countTextTokens, encodingForModel, warmTokenizer, type EncodingName } from './tokenizer.js';
export { usageFromJson, type EstimateReason, type MeteredUsage } from './usage.js';
export { isTokenCount, MAX_AUDIO_SECONDS, MAX_INPUT_TOKENS, usageBeyondLimits, usageFieldProblem, usageLimits, type UsageLimits } from './usage-bounds.js';
export { priceAnswer, type AnswerPrice } from './price-answer.js';
export { answeredModel, plausibleUsage, usageObjectOf } from './usage.js';
export { USAGE_DIALECTS, dialectOf, type UsageDialect, type DialectUsage } from './usage-dialects.js';
export { priceLookups, foldModelName, modelInPath, withModelInPath, type PriceLookup } from './model-names.js';
export { priceUsage, PRICE_UNITS, type PriceUnit, type PriceUsage, type PricedUsage } from './usage-units.js';
export { servedModelWarning } from './price-answer.js';
