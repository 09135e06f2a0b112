import { createMemoryStore } from './memory.js';
import { createSqliteStore } from './sqlite.js';
import { sqliteAvailable } from './sqlite-driver.js';
import type { TokenlayStore } from './types.js';

export type * from './types.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory.js';
export { createSqliteStore, type SqliteStoreOptions } from './sqlite.js';

/**
 * The store used when none is configured and `TOKENLAY_STORE` is unset: SQLite, so that budgets
 * and the ledger survive a restart with no server to run. Without better-sqlite3 installed,
 * embedded mode falls back to memory and says so once.
 */
export const DEFAULT_STORE_SPEC = 'sqlite:./.tokenlay/usage.db';

let warnedFallback = false;

function defaultSpec(): string {
  if (sqliteAvailable()) return DEFAULT_STORE_SPEC;
  if (!warnedFallback) {
    warnedFallback = true;
    process.emitWarning(
      'tokenlay: better-sqlite3 is not installed, so usage counters live in memory and reset when the process restarts. ' +
        "Run `npm install better-sqlite3@12` for the SQLite default, or pass store: 'memory' to silence this.",
    );
  }
  return 'memory';
}

const ACCEPTED = `"memory", "sqlite:<path>" (e.g. "sqlite:./tokenlay.db") or "sqlite::memory:"`;

function redact(spec: string): string {
  // A connection URL may carry a password; error messages must not.
  return spec.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

function isStore(value: unknown): value is TokenlayStore {
  const store = value as Partial<TokenlayStore> | null;
  return typeof store === 'object' && store !== null && typeof store.reserve === 'function' && typeof store.settle === 'function';
}

/**
 * Resolves a store option to a store.
 *
 * - a {@link TokenlayStore} object: used as it is;
 * - `'memory'`: {@link createMemoryStore};
 * - `'sqlite:<path>'` (also `'sqlite://<path>'`) and `'sqlite::memory:'`: {@link createSqliteStore};
 *   a relative path is relative to the working directory;
 * - `undefined`: env `TOKENLAY_STORE`, else {@link DEFAULT_STORE_SPEC} (memory when better-sqlite3 is missing).
 *
 * @throws an Error naming the value and the accepted forms when the spec is not one of these.
 */
export function createStore(spec: string | TokenlayStore | undefined): TokenlayStore {
  if (spec !== undefined && typeof spec !== 'string') {
    if (isStore(spec)) return spec;
    throw new TypeError(`tokenlay: store must be a string (${ACCEPTED}) or a TokenlayStore object; got ${Object.prototype.toString.call(spec)}.`);
  }
  // An empty TOKENLAY_STORE is as good as unset, as for every other env default.
  const text = (spec ?? (process.env.TOKENLAY_STORE || undefined) ?? defaultSpec()).trim();
  if (text === 'memory') return createMemoryStore();
  if (/^sqlite:/i.test(text)) {
    let path = text.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs/file.db, sqlite://./rel.db
    if (path === '') throw new Error(`tokenlay: store "${text}" names no file; use ${ACCEPTED}.`);
    return createSqliteStore({ path });
  }
  if (/^rediss?:/i.test(text)) {
    throw new Error(
      `tokenlay: store "${redact(text)}": Redis stores arrive with the distributed store; use memory or sqlite: for now (${ACCEPTED}).`,
    );
  }
  throw new Error(`tokenlay: unknown store "${redact(text)}"; use ${ACCEPTED}, or pass a TokenlayStore object.`);
}
