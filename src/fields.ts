// The wire contract lives in src/protocol/; this path is kept for existing imports.
export * from './protocol/fields.js';
