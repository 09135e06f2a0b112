/**
 * The SQL the SQLite store runs, by name. Every statement runs inside a call's reservation or
 * settlement (or on a timer), so each must find its rows by an index: a full scan of `holds`
 * makes every call pay for every call in flight. test/store/sqlite-plans.test.ts checks each
 * one's query plan on the current schema.
 */
export const STATEMENTS = {
  /** Counter state in units: settled usage and live reservations, in one statement. */
  readCounter: `SELECT (SELECT used FROM counters WHERE key = ? AND metric = ? AND bucket = ? AND (expires_at IS NULL OR expires_at > ?)) AS used,
       (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE key = ? AND metric = ? AND bucket = ? AND lease_until > ?) AS reserved`,
  insertHold: 'INSERT INTO holds (id, idx, key, metric, bucket, amount, lease_until, expires_at, lost_row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  anyLost: 'SELECT id FROM holds WHERE lease_until <= ? LIMIT 1',
  // By the lease index, named: left to itself, SQLite reads every hold in key order to spare a
  // sort of what is nearly always nothing.
  selectLost: 'SELECT id, key, metric, bucket, amount, expires_at, lost_row FROM holds INDEXED BY holds_by_lease WHERE lease_until <= ? ORDER BY id, idx',
  selectLostOthers:
    'SELECT id, key, metric, bucket, amount, expires_at, lost_row FROM holds INDEXED BY holds_by_lease WHERE lease_until <= ? AND id <> ? ORDER BY id, idx',
  /**
   * The call's holds with their counters: a settlement that gives the counters back reads them
   * here, before it changes them, instead of once more per counter afterwards.
   */
  selectHoldsWithCounters: `SELECT h.key, h.metric, h.bucket, h.amount, h.expires_at,
       (SELECT c.used FROM counters c WHERE c.key = h.key AND c.metric = h.metric AND c.bucket = h.bucket AND (c.expires_at IS NULL OR c.expires_at > ?)) AS used,
       (SELECT COALESCE(SUM(o.amount), 0) FROM holds o WHERE o.key = h.key AND o.metric = h.metric AND o.bucket = h.bucket AND o.lease_until > ? AND o.id <> h.id) AS others
     FROM holds h WHERE h.id = ? ORDER BY h.idx`,
  markCharged: 'INSERT OR IGNORE INTO lost_calls (id, charged_at) VALUES (?, ?)',
  wasCharged: 'SELECT id FROM lost_calls WHERE id = ?',
  sweepCharged: 'DELETE FROM lost_calls WHERE charged_at <= ?',
  selectHolds: 'SELECT key, metric, bucket, amount, expires_at FROM holds WHERE id = ?',
  deleteHolds: 'DELETE FROM holds WHERE id = ?',
  addUsage: `INSERT INTO counters (key, metric, bucket, used, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (key, metric, bucket) DO UPDATE SET used = used + excluded.used`,
  renewHolds: 'UPDATE holds SET lease_until = MAX(lease_until, ?) WHERE id = ?',
  sweepCounters: 'DELETE FROM counters WHERE expires_at IS NOT NULL AND expires_at <= ?',
} as const;
