export { TokenlayOpenAI, type TokenlayOpenAIOptions, type RequestMetadata } from './client/tokenlay-openai.js';
export { VERSION } from './version.js';
export { TokenlayRedirectError } from './client/proxy-send.js';
export {
  runWithTokenlay,
  getTokenlayContext,
  resolveTokenlayContext,
  setTokenlayContext,
  bindTokenlay,
  getTokenlayUsage,
  type TokenlayUsage,
} from './scope/context.js';
export { tokenlayFetch, createTokenlayFetch, type TokenlayFetchOptions } from './client/fetch.js';
export { getTokenlayMetadata, type TokenlayMetadata, type TokenlayMetadata as TokenlayResponseMetadata } from './client/metadata.js';
export {
  TokenlayError,
  TokenlayConfigError,
  TokenlayHeaderError,
  TokenlayScopeError,
  type TokenlayLimit,
} from './errors.js';
export { TokenlayLimitError } from './client/errors.js';
export type { TokenlayFields, FieldInput } from './protocol/fields.js';
export {
  DEFAULT_TOKENLAY_BASE_URL,
  DEFAULT_PROVIDER_API_BASE,
  type TokenlayConnectionOptions,
  type EmbeddedOptions,
} from './client/options.js';
export { encodeHeaderValue, decodeHeaderValue, fieldsToHeaders, headersToFields } from './protocol/headers.js';
export type { TokenlayMiddlewareOptions, Identify } from './scope/request-scope.js';
export { loadRules, validateRules, TokenlayRulesError } from './policy/index.js';
export { createEngine, createEmbeddedFetch } from './engine/index.js';
export { createStore, createMemoryStore, createSqliteStore, type TokenlayStore, type CounterStore, type Ledger } from './store/index.js';
