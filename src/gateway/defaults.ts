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
/** ms a client has to send its request headers (slowloris). */
export const DEFAULT_HEADER_TIMEOUT_MS = 15_000;
/** ms a client has to send its whole request body: 20 MiB at about 3 Mbit/s. */
export const DEFAULT_BODY_TIMEOUT_MS = 60_000;
/** ms a client may take nothing in (no body byte sent, no answer byte read) before the gateway hangs up. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
