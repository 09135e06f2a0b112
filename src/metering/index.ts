export { estimateOutputTokens, estimateRequestTokens, estimateUsage, IMAGE_TOKENS, LOW_DETAIL_IMAGE_TOKENS } from './estimate.js';
export {
  createPricer,
  DEFAULT_MAX_OUTPUT_TOKENS,
  MAX_OUTPUT_TOKENS,
  MAX_CHOICES,
  reservationEstimate,
  type ModelPrice,
  type Pricer,
  type PricerOptions,
  type PriceResult,
  type ReservationEstimate,
} from './prices.js';
export { meterEventStream, type MeterEventStreamOptions, type StreamUsage } from './sse.js';
export { countTextTokens, encodingForModel, warmTokenizer, type EncodingName } from './tokenizer.js';
export { usageFromJson, type MeteredUsage } from './usage.js';
export { priceAnswer, type AnswerPrice } from './price-answer.js';
export { answeredModel, plausibleUsage, usageObjectOf } from './usage.js';
export { USAGE_DIALECTS, dialectOf, type UsageDialect, type DialectUsage } from './usage-dialects.js';
export { priceLookups, foldModelName, modelInPath, withModelInPath, type PriceLookup } from './model-names.js';
export { priceUsage, PRICE_UNITS, type PriceUnit, type PriceUsage, type PricedUsage } from './usage-units.js';
export { servedModelWarning } from './price-answer.js';
