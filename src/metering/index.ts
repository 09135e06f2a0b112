export { estimateOutputTokens, estimateRequestTokens, estimateUsage, IMAGE_TOKENS, LOW_DETAIL_IMAGE_TOKENS } from './estimate.js';
export {
  createPricer,
  DEFAULT_MAX_OUTPUT_TOKENS,
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
