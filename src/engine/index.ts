export { createEngine } from './engine.js';
export { createEmbeddedFetch, type EmbeddedFetch } from './embedded.js';
export type { Engine, EngineCall, EngineConfig, ModelPrice } from './types.js';
