import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { nodeBuiltin, nodeRequire } from '../node-builtins.js';
import { TokenlayConfigError } from '../errors.js';

/** The SQLite drivers the store runs on. */
export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

/** What a write did; both drivers answer in this shape. */
export interface SqliteRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/** A prepared statement: the part of better-sqlite3's API the store uses, on either driver. */
export interface SqliteStatement<P extends unknown[] = unknown[], R = unknown> {
  /** Positional parameters, or one object for `@name` parameters. */
  run(...params: P): SqliteRunResult;
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

/** A transaction function: runs in `BEGIN` (deferred), or in `BEGIN IMMEDIATE` through `.immediate`. */
export type SqliteTransaction<A extends unknown[], T> = ((...args: A) => T) & { immediate(...args: A): T };

/** One open database, whichever driver is under it. */
export interface SqliteDatabase {
  readonly driver: SqliteDriverName;
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): SqliteStatement<P, R>;
  exec(sql: string): void;
  /** `PRAGMA <text>`; with `simple`, the first column of the first row. */
  pragma(text: string, options?: { simple?: boolean }): unknown;
  /** Wraps `fn` in a transaction, rolled back when it throws; nested calls use savepoints. */
  transaction<A extends unknown[], T>(fn: (...args: A) => T): SqliteTransaction<A, T>;
  close(): void;
}

interface NodeSqliteStatement {
  run(...params: unknown[]): SqliteRunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface NodeSqliteDatabase {
  prepare(sql: string): NodeSqliteStatement;
  exec(sql: string): void;
  close(): void;
}
type NodeSqliteModule = { DatabaseSync: new (path: string) => NodeSqliteDatabase };

let nodeSqlite: NodeSqliteModule | null | undefined;
let betterSqlite: typeof BetterSqlite3 | undefined;

/**
 * `node:sqlite`, where the runtime has it unflagged (Node 22.13+, 23.4+): no native build to
 * install. Node 22 prints an ExperimentalWarning when it loads; tokenlay chose the module, the
 * app cannot act on the warning, so that one warning is not passed on.
 */
function loadNodeSqlite(): NodeSqliteModule | null {
  if (nodeSqlite !== undefined) return nodeSqlite;
  const require = nodeRequire('the SQLite store', import.meta.url);
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: any[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0]?.type ?? (warning as Error)?.name);
    if (type === 'ExperimentalWarning' && /sqlite/i.test(String(text))) return;
    return (emitWarning as any).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    nodeSqlite = require('node:sqlite') as NodeSqliteModule;
  } catch {
    nodeSqlite = null;
  } finally {
    process.emitWarning = emitWarning;
  }
  return nodeSqlite;
}

function loadBetterSqlite(): typeof BetterSqlite3 {
  if (betterSqlite) return betterSqlite;
  try {
    betterSqlite = nodeRequire('the SQLite store', import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  } catch (error) {
    throw new TokenlayConfigError(
      `tokenlay: the SQLite store needs the better-sqlite3 package on Node ${process.versions.node}, which has no node:sqlite, and better-sqlite3 could not be loaded (${(error as Error).message.split('\n')[0]}). Run: npm install better-sqlite3@12, or run on Node 22.13 or later, whose built-in node:sqlite needs no install.`,
      { cause: error },
    );
  }
  return betterSqlite;
}

/**
 * The driver a new store opens its file with: env `TOKENLAY_SQLITE_DRIVER` (`node:sqlite` or
 * `better-sqlite3`) when set, else `node:sqlite` when the runtime has it, else `better-sqlite3`
 * (an optional peer dependency, needed on Node 20).
 *
 * @throws an Error when `TOKENLAY_SQLITE_DRIVER` names another driver, or names `node:sqlite` on a
 * runtime without it.
 */
export function sqliteDriverName(): SqliteDriverName {
  const asked = process.env.TOKENLAY_SQLITE_DRIVER?.trim();
  if (asked === 'better-sqlite3') return asked;
  if (asked === 'node:sqlite') {
    if (!loadNodeSqlite()) {
      throw new TokenlayConfigError(`tokenlay: TOKENLAY_SQLITE_DRIVER is "node:sqlite", but Node ${process.versions.node} has no node:sqlite; use Node 22.13 or later, or unset it to use better-sqlite3.`);
    }
    return asked;
  }
  if (asked) throw new TokenlayConfigError(`tokenlay: TOKENLAY_SQLITE_DRIVER "${asked}" is not a SQLite driver; use "node:sqlite" or "better-sqlite3", or unset it.`);
  return loadNodeSqlite() ? 'node:sqlite' : 'better-sqlite3';
}

/** Whether `path` names an in-memory database rather than a file. */
export function isMemoryPath(path: string): boolean {
  return path === ':memory:' || path === '';
}

// node:sqlite binds null, numbers, bigints, strings and bytes; better-sqlite3 also takes
// undefined (as NULL) and the store relies on that for absent optional columns.
function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

function wrapNodeStatement(statement: NodeSqliteStatement, sql: string): SqliteStatement<any[], any> {
  // node:sqlite refuses an object with keys the statement does not name; better-sqlite3 ignores them.
  const names = [...new Set([...sql.matchAll(/[@:$]([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))];
  const args = (params: unknown[]): unknown[] => {
    const [first] = params;
    if (params.length === 1 && first !== null && typeof first === 'object' && !ArrayBuffer.isView(first)) {
      const named: Record<string, unknown> = {};
      for (const name of names) named[name] = bindable((first as Record<string, unknown>)[name]);
      return [named];
    }
    return params.map(bindable);
  };
  return {
    run: (...params) => statement.run(...args(params)),
    get: (...params) => statement.get(...args(params)) ?? undefined,
    all: (...params) => statement.all(...args(params)),
  };
}

function openNodeSqlite(path: string, busyTimeoutMs: number): SqliteDatabase {
  const { DatabaseSync } = loadNodeSqlite()!;
  const db = new DatabaseSync(isMemoryPath(path) ? ':memory:' : path);
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  let depth = 0;
  const wrapped: SqliteDatabase = {
    driver: 'node:sqlite',
    prepare: (sql) => wrapNodeStatement(db.prepare(sql), sql) as SqliteStatement<any, any>,
    exec: (sql) => db.exec(sql),
    pragma(text, options) {
      const rows = db.prepare(`PRAGMA ${text}`).all() as Array<Record<string, unknown>>;
      return options?.simple ? (rows[0] ? Object.values(rows[0])[0] : undefined) : rows;
    },
    transaction(fn) {
      const run = (begin: string, args: any[]) => {
        const savepoint = depth > 0 ? `tokenlay_${depth}` : undefined;
        db.exec(savepoint ? `SAVEPOINT ${savepoint}` : begin);
        depth++;
        try {
          const result = fn(...(args as any));
          depth--;
          db.exec(savepoint ? `RELEASE ${savepoint}` : 'COMMIT');
          return result;
        } catch (error) {
          depth--;
          try {
            db.exec(savepoint ? `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}` : 'ROLLBACK');
          } catch {
            // SQLite already rolled back (a busy or full-disk error ends the transaction).
          }
          throw error;
        }
      };
      const tx = (...args: any[]) => run('BEGIN', args);
      return Object.assign(tx, { immediate: (...args: any[]) => run('BEGIN IMMEDIATE', args) }) as any;
    },
    close: () => db.close(),
  };
  return wrapped;
}

function openBetterSqlite(path: string, busyTimeoutMs: number): SqliteDatabase {
  const Database = loadBetterSqlite();
  const db = new Database(path, { timeout: busyTimeoutMs });
  return {
    driver: 'better-sqlite3',
    prepare: (sql) => db.prepare(sql) as unknown as SqliteStatement<any, any>,
    exec: (sql) => void db.exec(sql),
    pragma: (text, options) => db.pragma(text, options),
    transaction: (fn) => db.transaction(fn) as any,
    close: () => void db.close(),
  };
}

/**
 * Opens a SQLite database for several processes to share: WAL so readers don't block the writer,
 * a busy timeout so a writer waits for another process's transaction instead of failing.
 * The driver is the one {@link sqliteDriverName} picks; the store works the same on both.
 *
 * @throws an Error naming what to install when no driver can be loaded.
 */
export function openDatabase(path: string, busyTimeoutMs: number): SqliteDatabase {
  const driver = sqliteDriverName();
  if (!isMemoryPath(path)) {
    const { dirname, resolve } = nodeBuiltin<typeof NodePath>('node:path', 'the SQLite store');
    nodeBuiltin<typeof NodeFs>('node:fs', 'the SQLite store').mkdirSync(dirname(resolve(path)), { recursive: true });
  }
  const db = driver === 'node:sqlite' ? openNodeSqlite(path, busyTimeoutMs) : openBetterSqlite(path, busyTimeoutMs);
  if (!isMemoryPath(path)) db.pragma('journal_mode = WAL');
  // NORMAL is crash-safe in WAL mode; only the last commits before a power cut may be lost.
  db.pragma('synchronous = NORMAL');
  return db;
}
