import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { openDatabase, type SqliteDatabase } from '../store/sqlite-driver.js';
import { fromDb, type LedgerDbRow } from '../store/sqlite-ledger.js';
import type { BillableRow, BillingLedger, HeldRow, PushedRow } from './types.js';

/**
 * Billing's tables, beside the ledger in the same file. Created when first needed rather than as a
 * store migration: a store that never bills has none of them.
 */
const TABLES = `
  CREATE TABLE IF NOT EXISTS billing_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS billing_cursors (destination TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS billing_pushed (
    destination TEXT NOT NULL, id TEXT NOT NULL, customer TEXT NOT NULL, value TEXT NOT NULL,
    time INTEGER NOT NULL, pushed_at INTEGER NOT NULL, PRIMARY KEY (destination, id)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS billing_pushed_by_time ON billing_pushed (destination, time);
  CREATE TABLE IF NOT EXISTS billing_held (
    destination TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL, reason TEXT NOT NULL,
    detail TEXT NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (destination, id)) WITHOUT ROWID;`;

type Row = LedgerDbRow & { id: number };

/**
 * The billing view of a SQLite ledger file. Row ids are SQLite's `id INTEGER PRIMARY KEY`, which
 * grow in commit order (SQLite has one writer at a time), so a cursor on them never skips a row.
 * Ids are made unique across ledgers with a random id the file is given the first time it is billed.
 */
export function openSqliteBillingLedger(path: string): BillingLedger {
  // Opening a path that is not there would create an empty file, leaving a typo behind.
  if (!existsSync(path)) throw new Error(`there is no SQLite file at ${path}; point --store at the file your app or gateway writes (its store option), e.g. sqlite:./.tokenlay/usage.db.`);
  const db: SqliteDatabase = openDatabase(path, 10_000);
  try {
    const ledger = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'ledger'`).get();
    if (!ledger || ledger.n === 0) {
      throw new Error(`the SQLite file ${path} has no tokenlay ledger; point --store at the file your app or gateway writes (its store option).`);
    }
    db.exec(TABLES);
    db.prepare(`INSERT OR IGNORE INTO billing_meta (key, value) VALUES ('ledger_id', ?)`).run(randomBytes(6).toString('hex'));
  } catch (err) {
    db.close();
    throw err;
  }
  const ledgerId = (db.prepare<[], { value: string }>(`SELECT value FROM billing_meta WHERE key = 'ledger_id'`).get())!.value;
  const billable = (r: Row): BillableRow => ({ id: `${ledgerId}-${r.id}`, position: r.id, row: fromDb(r) });
  const after = db.prepare<[number, number], Row>(`SELECT * FROM ledger WHERE id > ? ORDER BY id LIMIT ?`);
  const between = db.prepare<[number, number], Row>(`SELECT * FROM ledger WHERE time >= ? AND time < ? ORDER BY id`);
  const cursorOf = db.prepare<[string], { position: number }>(`SELECT position FROM billing_cursors WHERE destination = ?`);
  const insertPushed = db.prepare(`INSERT OR IGNORE INTO billing_pushed (destination, id, customer, value, time, pushed_at) VALUES (?, ?, ?, ?, ?, ?)`);
  const insertHeld = db.prepare(`INSERT OR IGNORE INTO billing_held (destination, id, position, reason, detail, time) VALUES (?, ?, ?, ?, ?, ?)`);
  const move = db.prepare(
    `INSERT INTO billing_cursors (destination, position, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (destination) DO UPDATE SET position = max(position, excluded.position), updated_at = excluded.updated_at`,
  );
  const advance = db.transaction((destination: string, to: number, pushed: PushedRow[], held: HeldRow[]) => {
    const now = Date.now();
    for (const p of pushed) insertPushed.run(destination, p.id, p.customer, p.value, p.time, now);
    for (const h of held) insertHeld.run(destination, h.id, h.position, h.reason, h.detail, h.time);
    move.run(destination, to, now);
  });
  const heldAfter = db.prepare<[string, string, number, number], Row>(
    `SELECT l.* FROM billing_held h JOIN ledger l ON l.id = h.position
     WHERE h.destination = ? AND h.reason IN (SELECT value FROM json_each(?)) AND h.position > ? ORDER BY h.position LIMIT ?`,
  );
  const unhold = db.prepare<[string, string]>(`DELETE FROM billing_held WHERE destination = ? AND id = ?`);
  const release = db.transaction((destination: string, pushed: PushedRow[]) => {
    const now = Date.now();
    for (const p of pushed) {
      insertPushed.run(destination, p.id, p.customer, p.value, p.time, now);
      unhold.run(destination, p.id);
    }
  });
  return {
    async cursor(destination) {
      return cursorOf.get(destination)?.position ?? 0;
    },
    async rowsAfter(position, limit) {
      return after.all(position, limit).map(billable);
    },
    async advance(destination, to, pushed, held) {
      advance.immediate(destination, to, pushed, held);
    },
    async heldRows(destination, reasons, position, limit) {
      return heldAfter.all(destination, JSON.stringify(reasons), position, limit).map(billable);
    },
    async release(destination, pushed) {
      release.immediate(destination, pushed);
    },
    async destinations() {
      return db.prepare<[], { destination: string }>(`SELECT destination FROM billing_cursors ORDER BY destination`).all().map((r) => r.destination);
    },
    async pushed(destination, from, to) {
      return db.prepare<[string, number, number], PushedRow>(`SELECT id, customer, value, time FROM billing_pushed WHERE destination = ? AND time >= ? AND time < ? ORDER BY time, id`).all(destination, from, to);
    },
    async held(destination, from, to) {
      return db.prepare<[string, number, number], HeldRow>(`SELECT id, position, reason, detail, time FROM billing_held WHERE destination = ? AND time >= ? AND time < ? ORDER BY position`).all(destination, from, to);
    },
    async rowsBetween(from, to) {
      return between.all(from, to).map(billable);
    },
    async close() {
      db.close();
    },
  };
}
