import type { Pool } from 'pg';
import { TokenlayConfigError } from '../errors.js';
import { createPool, inTransaction } from '../store/postgres-driver.js';
import { ident, lockSchemaDdl, migrate } from '../store/postgres-schema.js';
import { redactUrl } from '../store/redact.js';
import { checkKeyName, generateKey, hashKey, sameHash, type KeyRecord, type KeyStore } from './keys.js';

/** Options of {@link createPostgresKeyStore}. */
export interface PostgresKeyStoreOptions {
  /**
   * `postgres://user:password@host:5432/db` (or `postgresql://`), the same URL as the ledger's.
   * `?schema=` names the schema (default `public`); the ledger's other parameters are ignored.
   */
  url: string;
  /**
   * How long, in ms, an instance trusts what it learnt about a presented key before asking
   * Postgres again. A key revoked on one instance is refused by every instance within this time.
   * While Postgres cannot be reached, a key looked up before keeps its last answer until it can.
   * Default 5000.
   */
  cacheMs?: number;
  /** Connections in the pool. Default 2. */
  poolSize?: number;
  /** The clock, ms since epoch. Default `Date.now`. */
  now?: () => number;
}

/** The Postgres key store, with a way to wait until its table is there. */
export interface PostgresKeyStore extends KeyStore {
  /** Resolves once the database answered and its migrations ran; rejects with a message naming the URL (password redacted) if not. */
  ready(): Promise<void>;
}

interface KeyRow {
  name: string;
  hash: Buffer;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  admin?: boolean;
}

/** Default of {@link PostgresKeyStoreOptions.cacheMs}. */
export const KEY_CACHE_MS = 5000;
/** How often a key's "last used" time is written, at most. */
const TOUCH_EVERY_MS = 60_000;
/** Presented keys remembered at most; beyond, the oldest are forgotten (bounds memory under a flood of bad keys). */
const CACHE_ENTRIES = 10_000;
/** The ledger URL's own parameters, which are not pg connection options. */
const LEDGER_PARAMS = ['schema', 'batchSize', 'flushIntervalMs', 'retainMonths'];

const num = (v: string | null): number | null => (v === null ? null : Number(v));

/**
 * Keys in a PostgreSQL table `tokenlay_keys` (created by the ledger's versioned migrations): the
 * SHA-256 of each key, never the key. Every gateway pointed at the same database knows every key.
 * Each instance remembers what a presented key's hash resolved to for `cacheMs` (5 s), so that a
 * call costs no database round trip; a revocation therefore takes effect everywhere within that time
 * (at once on the instance that revoked it).
 *
 * @throws {TokenlayConfigError} when the URL is not a Postgres URL, or with "npm install pg" when pg is missing.
 */
export function createPostgresKeyStore(opts: PostgresKeyStoreOptions): PostgresKeyStore {
  if (!/^postgres(ql)?:\/\//i.test(opts.url ?? '')) {
    throw new TokenlayConfigError(`tokenlay: key store URL "${redactUrl(String(opts.url))}" is not a Postgres URL; use --ledger postgres://user:password@host:5432/db.`);
  }
  const where = redactUrl(opts.url);
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new TokenlayConfigError(`tokenlay: key store URL "${where}" is not a valid URL; use --ledger postgres://user:password@host:5432/db.`);
  }
  const schema = url.searchParams.get('schema') ?? 'public';
  for (const name of LEDGER_PARAMS) url.searchParams.delete(name);
  const table = `${ident(schema)}.tokenlay_keys`;
  const now = opts.now ?? Date.now;
  const cacheMs = opts.cacheMs ?? KEY_CACHE_MS;
  // A connection PostgreSQL ended fails the lookup it carried (answered below), never the process.
  const pool: Pool = createPool({ connectionString: url.toString(), max: opts.poolSize ?? 2 }, () => {});

  const started = migrate(pool, schema)
    .then(() => addAdminColumn(pool, schema, table))
    .catch((error: unknown) => {
    throw new Error(
      `tokenlay: cannot use the Postgres key store at ${where} (${(error as Error)?.message ?? String(error)}). Check --ledger (TOKENLAY_LEDGER) and that the database is up and reachable.`,
      { cause: error },
    );
  });
  started.catch(() => {});

  // hash (hex) → the account it resolved to (undefined: unknown or revoked) and until when to trust it.
  const cache = new Map<string, { account: string | undefined; until: number }>();
  const lookups = new Map<string, Promise<string | undefined>>();
  const touched = new Map<string, number>();

  async function lookup(hash: Buffer, hex: string): Promise<string | undefined> {
    await started;
    const { rows } = await pool.query<KeyRow>(`SELECT name, hash, revoked_at FROM ${table} WHERE hash = $1`, [hash]);
    const row = rows[0];
    // The lookup is by hash, so its timing says nothing about the key; the compare is constant-time.
    const account = row && sameHash(row.hash, hash) && row.revoked_at === null ? row.name : undefined;
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(hex, { account, until: now() + cacheMs });
    return account;
  }

  function touch(name: string): void {
    const t = now();
    if (t - (touched.get(name) ?? 0) < TOUCH_EVERY_MS) return;
    touched.set(name, t);
    // "Last used" is informational; a busy database must not refuse the call.
    pool.query(`UPDATE ${table} SET last_used_at = $1 WHERE name = $2`, [t, name]).catch(() => {});
  }

  return {
    ready: () => started,
    async create(name, options) {
      checkKeyName(name);
      await started;
      const { rows } = await pool.query<KeyRow>(`SELECT revoked_at FROM ${table} WHERE name = $1`, [name]);
      const taken = (revoked: boolean) =>
        new Error(
          revoked
            ? `tokenlay keys: the name "${name}" belonged to a key that was revoked; its usage stays with it. Pick another --name.`
            : `tokenlay keys: a key named "${name}" already exists. Pick another --name, or revoke it first with: tokenlay keys revoke ${name}`,
        );
      if (rows[0]) throw taken(rows[0].revoked_at !== null);
      const key = generateKey();
      try {
        await pool.query(`INSERT INTO ${table} (name, hash, created_at, admin) VALUES ($1, $2, $3, $4)`, [name, hashKey(key), now(), options?.admin === true]);
      } catch (error) {
        // Created by another instance between the check and the insert.
        if ((error as { code?: string }).code === '23505') throw taken(false);
        throw error;
      }
      return key;
    },
    async authenticate(presented) {
      const hash = hashKey(presented);
      const hex = hash.toString('hex');
      const hit = cache.get(hex);
      let account: string | undefined;
      if (hit && hit.until > now()) account = hit.account;
      else {
        let pending = lookups.get(hex);
        if (!pending) {
          // While PostgreSQL is unreachable (a restart, a failover), a key known before keeps the
          // answer it last had: callers are not refused for the database's outage.
          pending = lookup(hash, hex)
            .catch((error: unknown) => {
              if (hit) return hit.account;
              throw error;
            })
            .finally(() => lookups.delete(hex));
          lookups.set(hex, pending);
        }
        account = await pending;
      }
      if (account !== undefined) touch(account);
      return account;
    },
    async isAdmin(name) {
      await started;
      const { rows } = await pool.query<KeyRow>(`SELECT admin, revoked_at FROM ${table} WHERE name = $1`, [name]);
      return rows[0] !== undefined && rows[0].revoked_at === null && rows[0].admin === true;
    },
    async list() {
      await started;
      const { rows } = await pool.query<KeyRow>(`SELECT name, created_at, last_used_at, revoked_at, admin FROM ${table} ORDER BY created_at, name`);
      return rows.map((r): KeyRecord => ({ name: r.name, createdAt: Number(r.created_at), lastUsedAt: num(r.last_used_at), revokedAt: num(r.revoked_at), admin: r.admin === true }));
    },
    async revoke(name) {
      await started;
      const { rowCount } = await pool.query(`UPDATE ${table} SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL`, [now(), name]);
      // This instance refuses the key at once; the others within cacheMs.
      for (const [hex, entry] of cache) if (entry.account === name) cache.delete(hex);
      return (rowCount ?? 0) > 0;
    },
    async close() {
      await pool.end();
    },
  };
}

/** Whether a `--ledger` value puts the keys in Postgres. */
export function isPostgresUrl(spec: unknown): spec is string {
  return typeof spec === 'string' && /^postgres(ql)?:\/\//i.test(spec.trim());
}

/** Admin keys came after the table: a database made before gets the column (false for its keys), once, under the schema's DDL lock. */
async function addAdminColumn(pool: Pool, schema: string, table: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await lockSchemaDdl(client, schema);
    await client.query(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS admin boolean NOT NULL DEFAULT false`);
  });
}
