export { TokenlayOpenAI, type TokenlayOpenAIOptions, type RequestMetadata } from './client.js';
export { VERSION } from './version.js';
export { TokenlayRedirectError } from './proxy-send.js';
export {
  runWithTokenlay,
  getTokenlayContext,
  resolveTokenlayContext,
  setTokenlayContext,
  bindTokenlay,
  getTokenlayUsage,
  type TokenlayUsage,
} from './context.js';
export { tokenlayFetch, createTokenlayFetch, type TokenlayFetchOptions } from './fetch.js';
export { getTokenlayMetadata, type TokenlayMetadata, type TokenlayMetadata as TokenlayResponseMetadata } from './response.js';
export {
  TokenlayError,
  TokenlayConfigError,
  TokenlayHeaderError,
  TokenlayScopeError,
  TokenlayLimitError,
  type TokenlayLimit,
} from './errors.js';
export type { TokenlayFields, FieldInput } from './fields.js';
export {
  DEFAULT_TOKENLAY_BASE_URL,
  DEFAULT_PROVIDER_API_BASE,
  type TokenlayConnectionOptions,
  type EmbeddedOptions,
} from './options.js';
export { encodeHeaderValue, decodeHeaderValue, fieldsToHeaders, headersToFields } from './headers.js';
export type { TokenlayMiddlewareOptions, Identify } from './request-scope.js';
export { loadRules, validateRules, TokenlayRulesError } from './policy/index.js';
export { createEngine, createEmbeddedFetch } from './engine/index.js';
export { TokenlayOverrideInputError } from './engine/override-input.js';
export { createStore, createMemoryStore, createSqliteStore, type TokenlayStore, type CounterStore, type Ledger } from './store/index.js';
