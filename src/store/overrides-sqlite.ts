import { openDatabase, type SqliteDatabase } from './sqlite-driver.js';
import { auditPage, clearChange, creditChange, maxUnits, overrideOfRow, setChange, type OverrideRow, type LimitOverride, type OverrideChange, type OverrideStore } from './overrides.js';

// Tables of their own beside the store's, so that the store's migrations never need to know of them.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS limit_overrides (
  account TEXT NOT NULL, target TEXT NOT NULL, value TEXT NOT NULL, type TEXT NOT NULL,
  max INTEGER NOT NULL, window TEXT NOT NULL, until INTEGER, note TEXT, set_by TEXT NOT NULL, set_at INTEGER NOT NULL,
  PRIMARY KEY (account, target, value, type)
);
CREATE TABLE IF NOT EXISTS credit_grants (
  account TEXT NOT NULL, target TEXT NOT NULL, value TEXT NOT NULL, granted_units INTEGER NOT NULL,
  PRIMARY KEY (account, target, value)
);
CREATE TABLE IF NOT EXISTS limit_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, entry TEXT NOT NULL);`;

/**
 * Overrides and credit grants in a SQLite file (the store's own, `sqlite:<path>`): every process
 * on the file (the gateway, `tokenlay limits`, an app) sees every change at its next poll. Grants
 * add in one statement, so two grants at once both count.
 */
export function createSqliteOverrideStore(opts: { path: string }): OverrideStore {
  const db: SqliteDatabase = openDatabase(opts.path, 5000);
  db.exec(SCHEMA);
  const log = db.prepare<[string, string]>('INSERT INTO limit_changes (account, entry) VALUES (?, ?)');
  const record = (c: OverrideChange) => log.run(c.account, JSON.stringify(c));
  const put = db.prepare(
    `INSERT INTO limit_overrides (account, target, value, type, max, window, until, note, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (account, target, value, type) DO UPDATE SET max = excluded.max, window = excluded.window, until = excluded.until, note = excluded.note, set_by = excluded.set_by, set_at = excluded.set_at`,
  );
  const one = db.prepare<[string, string, string, string], OverrideRow>('SELECT * FROM limit_overrides WHERE account = ? AND target = ? AND value = ? AND type = ?');
  const drop = db.prepare('DELETE FROM limit_overrides WHERE account = ? AND target = ? AND value = ? AND type = ?');
  const add = db.prepare<[string, string, string, number], { granted_units: number }>(
    `INSERT INTO credit_grants (account, target, value, granted_units) VALUES (?, ?, ?, ?)
     ON CONFLICT (account, target, value) DO UPDATE SET granted_units = granted_units + excluded.granted_units RETURNING granted_units`,
  );
  const set = db.transaction((o: LimitOverride) => {
    put.run(o.account, o.target, o.value, o.type, maxUnits(o.type, o.max), o.window, o.until, o.note, o.setBy, o.setAt);
    record(setChange(o));
  });
  const clear = db.transaction((o: { account: string; target: string; value: string }, type: string, by: string, time: number): boolean => {
    const was = one.get(o.account, o.target, o.value, type);
    if (!was) return false;
    drop.run(o.account, o.target, o.value, type);
    record(clearChange(overrideOfRow(was), by, time));
    return true;
  });
  const grant = db.transaction((k: { account: string; target: LimitOverride['target']; value: string }, units: number, by: string, time: number, note: string | null): number => {
    const total = add.get(k.account, k.target, k.value, units)!.granted_units;
    record(creditChange(k, units, by, time, note));
    return Number(total);
  });
  return {
    async version() {
      return Number((db.prepare<[], { v: number | null }>('SELECT max(id) AS v FROM limit_changes').get()?.v ?? 0));
    },
    async list() {
      return db.prepare<[], OverrideRow>('SELECT * FROM limit_overrides ORDER BY set_at').all().map(overrideOfRow);
    },
    async set(o) {
      set.immediate(o);
    },
    async clear(key, type, by, time) {
      return clear.immediate(key, type, by, time);
    },
    async grant(key, units, by, time, note) {
      return grant.immediate(key, units, by, time, note);
    },
    async grants() {
      return db
        .prepare<[], { account: string; target: LimitOverride['target']; value: string; granted_units: number }>('SELECT * FROM credit_grants')
        .all()
        .map((r) => ({ account: r.account, target: r.target, value: r.value, grantedUnits: Number(r.granted_units) }));
    },
    async audit(query) {
      const rows = db.prepare<[], { entry: string }>('SELECT entry FROM limit_changes ORDER BY id').all();
      return auditPage(rows.map((r) => JSON.parse(r.entry) as OverrideChange), query);
    },
    async close() {
      db.close();
    },
  };
}
