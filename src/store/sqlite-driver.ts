import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { TokenlayConfigError } from '../config-error.js';

const require = createRequire(import.meta.url);
let driver: typeof BetterSqlite3 | undefined;

// Loaded on first use so that importing tokenlay never loads a native module for apps on memory.
function loadDriver(): typeof BetterSqlite3 {
  if (driver) return driver;
  try {
    driver = require('better-sqlite3') as typeof BetterSqlite3;
  } catch (error) {
    throw new TokenlayConfigError(
      `tokenlay: the SQLite store needs the better-sqlite3 package, which could not be loaded (${(error as Error).message.split('\n')[0]}). Run: npm install better-sqlite3@12`,
      { cause: error },
    );
  }
  return driver;
}

/** Whether `path` names an in-memory database rather than a file. */
export function isMemoryPath(path: string): boolean {
  return path === ':memory:' || path === '';
}

/**
 * Opens a SQLite database for several processes to share: WAL so readers don't block the writer,
 * a busy timeout so a writer waits for another process's transaction instead of failing.
 */
export function openDatabase(path: string, busyTimeoutMs: number): BetterSqlite3.Database {
  const Database = loadDriver();
  if (!isMemoryPath(path)) mkdirSync(dirname(resolve(path)), { recursive: true });
  const db = new Database(path, { timeout: busyTimeoutMs });
  if (!isMemoryPath(path)) db.pragma('journal_mode = WAL');
  // NORMAL is crash-safe in WAL mode; only the last commits before a power cut may be lost.
  db.pragma('synchronous = NORMAL');
  return db;
}
