import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** One tokenlay key as the gateway knows it: never the key itself, only its hash. */
export interface KeyRecord {
  /** The key's name, which is also its account: usage and read-outs belong to it. */
  name: string;
  /** ms since epoch. */
  createdAt: number;
  /** ms since epoch, or null when the key was never used (updated at most once a minute). */
  lastUsedAt: number | null;
  /** ms since epoch, or null while the key is active. */
  revokedAt: number | null;
  /** Whether the key may use the admin API (`/v1/admin/…`) of its account: `tokenlay keys create --admin`. */
  admin: boolean;
}

/**
 * Where the gateway keeps its keys and accounts: a SQLite file (`createSqliteKeyStore`, synchronous)
 * or PostgreSQL shared by every gateway (`createPostgresKeyStore`, asynchronous). Callers await
 * every result, so either kind fits.
 */
export interface KeyStore {
  /** Stores a new key under `name` and returns the key, shown this once. @throws when the name is taken or invalid. */
  create(name: string, options?: { admin?: boolean }): string | Promise<string>;
  /** The account (key name) a presented key belongs to, or undefined when it is unknown or revoked. */
  authenticate(presented: string): string | undefined | Promise<string | undefined>;
  /** Whether the active key named `name` (an account) is an admin key. */
  isAdmin(name: string): boolean | Promise<boolean>;
  /** Every key, oldest first, revoked ones included. */
  list(): KeyRecord[] | Promise<KeyRecord[]>;
  /** Revokes the key named `name`. @returns false when no active key has that name. */
  revoke(name: string): boolean | Promise<boolean>;
  close(): void | Promise<void>;
}

/** Every tokenlay key starts with this, so a leaked one is recognisable (and scannable). */
export const KEY_PREFIX = 'tl_';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A new key: 32 random bytes (256 bits), base64url. */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of the key. The key has 256 bits of entropy, so a fast hash is as safe as a slow one
 * here, and it keeps authentication to a few microseconds per call.
 */
export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Compares two hashes in constant time. */
export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** @throws an Error naming the value and the rule when `name` cannot name a key. */
export function checkKeyName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new Error(
      `tokenlay keys: key name ${JSON.stringify(name)} is not valid: use 1–64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. --name acme-prod).`,
    );
  }
  return name;
}
