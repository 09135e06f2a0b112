/**
 * `tokenlay/gateway`: the self-hostable Tokenlay proxy. Never loaded by the root entry.
 * The wire contract it speaks is docs/protocol.md.
 */
export { createGateway } from './gateway.js';
export { DEFAULT_HOST, DEFAULT_KEYS_FILE, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, DEFAULT_PROVIDER_BASE, DEFAULT_STORE } from './defaults.js';
export { createAllowlist, DEFAULT_PROVIDER_BASES, type ProviderAllowlist } from './allowlist.js';
export { createPostgresKeyStore, KEY_CACHE_MS, type PostgresKeyStore, type PostgresKeyStoreOptions } from './keys-postgres.js';
export { createSqliteKeyStore, type SqliteKeyStoreOptions } from './keys-sqlite.js';
export { generateKey, hashKey, KEY_PREFIX, type KeyRecord, type KeyStore } from './keys.js';
export { createLogger, type LogFormat, type LoggerOptions } from './log.js';
export type { Gateway, GatewayAddress, GatewayOptions } from './types.js';
