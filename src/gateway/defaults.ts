/** The defaults of a gateway started with no configuration; shared by the gateway and the CLI. */

/** The data folder, relative to the working directory. */
export const DEFAULT_DATA_DIR = './.tokenlay';
/** Counters and ledger. */
export const DEFAULT_STORE = `sqlite:${DEFAULT_DATA_DIR}/usage.db`;
/** Keys live in a table of their own in the store's default file. */
export const DEFAULT_KEYS_FILE = `${DEFAULT_DATA_DIR}/usage.db`;
/** 20 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;
export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';
/** What a call without `x-tokenlay-provider-base` goes to (docs/protocol.md §1). */
export const DEFAULT_PROVIDER_BASE = 'https://api.openai.com/v1';
