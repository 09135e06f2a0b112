import type { SqliteDatabase } from '../store/sqlite-driver.js';
import { openDatabase } from '../store/sqlite-driver.js';
import { checkKeyName, generateKey, hashKey, sameHash, type KeyRecord, type KeyStore } from './keys.js';

/** Options of {@link createSqliteKeyStore}. */
export interface SqliteKeyStoreOptions {
  /** The SQLite file (created with its folder when missing), or `:memory:`. */
  path: string;
  /** The clock, ms since epoch. Default `Date.now`. */
  now?: () => number;
}

interface KeyRow {
  name: string;
  hash: Buffer;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  admin?: number;
}

// Its own table, beside the store's, so that the store's migrations never need to know about it.
const SCHEMA = `CREATE TABLE IF NOT EXISTS gateway_keys (
  name TEXT PRIMARY KEY,
  hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
)`;

/** How often a key's "last used" time is written, at most: a write per call would cost more than the call. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Keys in a SQLite table `gateway_keys`: the SHA-256 of each key, never the key. Several processes
 * share the file (the gateway and `tokenlay keys`), so every lookup reads the table: a key revoked
 * from the command line is refused on its next call.
 */
export function createSqliteKeyStore(opts: SqliteKeyStoreOptions): KeyStore {
  const now = opts.now ?? Date.now;
  const db: SqliteDatabase = openDatabase(opts.path, 5000);
  db.exec(SCHEMA);
  addAdminColumn(db);
  const byHash = db.prepare<[Buffer], KeyRow>('SELECT * FROM gateway_keys WHERE hash = ?');
  const byName = db.prepare<[string], KeyRow>('SELECT * FROM gateway_keys WHERE name = ?');
  const insert = db.prepare('INSERT INTO gateway_keys (name, hash, created_at, admin) VALUES (?, ?, ?, ?)');
  const touch = db.prepare('UPDATE gateway_keys SET last_used_at = ? WHERE name = ?');
  const revoke = db.prepare('UPDATE gateway_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL');
  const all = db.prepare<[], KeyRow>('SELECT * FROM gateway_keys ORDER BY created_at, name');
  const touched = new Map<string, number>();

  return {
    create(name, options) {
      checkKeyName(name);
      const existing = byName.get(name);
      if (existing) {
        throw new Error(
          existing.revoked_at === null
            ? `tokenlay keys: a key named "${name}" already exists. Pick another --name, or revoke it first with: tokenlay keys revoke ${name}`
            : `tokenlay keys: the name "${name}" belonged to a key that was revoked; its usage stays with it. Pick another --name.`,
        );
      }
      const key = generateKey();
      insert.run(name, hashKey(key), now(), options?.admin === true ? 1 : 0);
      return key;
    },
    authenticate(presented) {
      const hash = hashKey(presented);
      const row = byHash.get(hash);
      // The lookup is by hash, so its timing says nothing about the key; the compare is constant-time.
      if (!row || !sameHash(row.hash, hash) || row.revoked_at !== null) return undefined;
      const t = now();
      if (t - (touched.get(row.name) ?? 0) >= TOUCH_EVERY_MS) {
        touched.set(row.name, t);
        try {
          touch.run(t, row.name);
        } catch {
          // "Last used" is informational; a busy database must not refuse the call.
        }
      }
      return row.name;
    },
    isAdmin(name) {
      const row = byName.get(name);
      return row !== undefined && row.revoked_at === null && row.admin === 1;
    },
    list() {
      return all.all().map((r): KeyRecord => ({ name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at, admin: r.admin === 1 }));
    },
    revoke(name) {
      return revoke.run(now(), name).changes > 0;
    },
    close() {
      db.close();
    },
  };
}

/** Admin keys (`tokenlay keys create --admin`) came after the table: a file made before gets the column, false for its keys. */
function addAdminColumn(db: SqliteDatabase): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(gateway_keys)').all();
  if (columns.some((c) => c.name === 'admin')) return;
  try {
    db.exec('ALTER TABLE gateway_keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0');
  } catch (error) {
    // Another process on the file added it first.
    if (!/duplicate column/i.test((error as Error).message)) throw error;
  }
}
