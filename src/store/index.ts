import { createMemoryStore } from './memory.js';
import { createSqliteStore } from './sqlite.js';
import type { TokenlayStore } from './types.js';
import { TokenlayConfigError } from '../config-error.js';

export type * from './types.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory.js';
export { createSqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { combineStores } from './combine.js';

/**
 * The store used when none is configured and `TOKENLAY_STORE` is unset: memory, like most rate
 * limiters. A file in the working directory, picked unasked, would share budgets between every
 * run in that folder (tests, scripts, two checkouts of one app); counters that must survive a
 * restart are asked for with `'sqlite:<path>'`, and the engine says so when it runs limits on memory.
 */
export const DEFAULT_STORE_SPEC = 'memory';

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
 * - `undefined`: env `TOKENLAY_STORE`, else {@link DEFAULT_STORE_SPEC}.
 *
 * @throws {TokenlayConfigError} naming the value and the accepted forms when the spec is not one of these.
 */
export function createStore(spec: string | TokenlayStore | undefined): TokenlayStore {
  if (spec !== undefined && typeof spec !== 'string') {
    if (isStore(spec)) return spec;
    throw new TokenlayConfigError(`tokenlay: store must be a string (${ACCEPTED}) or a TokenlayStore object; got ${Object.prototype.toString.call(spec)}.`);
  }
  // An empty TOKENLAY_STORE is as good as unset, as for every other env default.
  const text = (spec ?? (process.env.TOKENLAY_STORE || undefined) ?? DEFAULT_STORE_SPEC).trim();
  if (text === 'memory') return createMemoryStore();
  if (/^sqlite:/i.test(text)) {
    let path = text.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs/file.db, sqlite://./rel.db
    if (path === '') throw new TokenlayConfigError(`tokenlay: store "${text}" names no file; use ${ACCEPTED}.`);
    return createSqliteStore({ path });
  }
  if (/^rediss?:/i.test(text)) {
    throw new TokenlayConfigError(
      `tokenlay: store "${redact(text)}": Redis stores arrive with the distributed store; use memory or sqlite: for now (${ACCEPTED}).`,
    );
  }
  throw new TokenlayConfigError(`tokenlay: unknown store "${redact(text)}"; use ${ACCEPTED}, or pass a TokenlayStore object.`);
}
