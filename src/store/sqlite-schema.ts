import type { SqliteDatabase } from './sqlite-driver.js';

/**
 * The SQLite schema as an append-only list of migrations: migration `i` brings a database from
 * `PRAGMA user_version = i` to `i + 1`. Never edit a released migration; add a new one.
 */
export const migrations: readonly string[] = [
  // v1: counters and leased reservations.
  `CREATE TABLE counters (
     key TEXT NOT NULL,
     metric TEXT NOT NULL,
     bucket INTEGER NOT NULL,
     used REAL NOT NULL DEFAULT 0,
     expires_at INTEGER,
     PRIMARY KEY (key, metric, bucket)
   ) WITHOUT ROWID;
   CREATE INDEX counters_expiry ON counters (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE holds (
     id TEXT NOT NULL,
     idx INTEGER NOT NULL,
     key TEXT NOT NULL,
     metric TEXT NOT NULL,
     bucket INTEGER NOT NULL,
     amount REAL NOT NULL,
     lease_until INTEGER NOT NULL,
     expires_at INTEGER,
     PRIMARY KEY (id, idx)
   ) WITHOUT ROWID;
   CREATE INDEX holds_by_counter ON holds (key, metric, bucket, lease_until, amount);
   CREATE INDEX holds_by_lease ON holds (lease_until);`,
  // v2: the usage ledger.
  `CREATE TABLE ledger (
     id INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     fields TEXT NOT NULL,
     model_requested TEXT,
     model_used TEXT,
     endpoint TEXT NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     cost REAL NOT NULL,
     rule_id TEXT,
     action TEXT,
     status INTEGER NOT NULL,
     latency_ms REAL NOT NULL,
     estimated INTEGER NOT NULL
   );
   CREATE INDEX ledger_by_time ON ledger (time);`,
  // v3: money as integers (1e-10 USD units, see money.ts): cost counters, cost holds and ledger
  // costs are converted from REAL USD; a REAL column would turn integers back into floats, so the
  // tables are rebuilt. Holds keep the row to record if their holder is lost; ledger rows say why
  // they are estimated. The ledger keeps a \`cost\` column (USD, computed) for hand-written SQL.
  `CREATE TABLE counters_v3 (
     key TEXT NOT NULL,
     metric TEXT NOT NULL,
     bucket INTEGER NOT NULL,
     used INTEGER NOT NULL DEFAULT 0,
     expires_at INTEGER,
     PRIMARY KEY (key, metric, bucket)
   ) WITHOUT ROWID;
   INSERT INTO counters_v3 (key, metric, bucket, used, expires_at)
     SELECT key, metric, bucket, CASE WHEN metric = 'cost' THEN CAST(ROUND(used * 10000000000) AS INTEGER) ELSE used END, expires_at FROM counters;
   DROP TABLE counters;
   ALTER TABLE counters_v3 RENAME TO counters;
   CREATE INDEX counters_expiry ON counters (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE holds_v3 (
     id TEXT NOT NULL,
     idx INTEGER NOT NULL,
     key TEXT NOT NULL,
     metric TEXT NOT NULL,
     bucket INTEGER NOT NULL,
     amount INTEGER NOT NULL,
     lease_until INTEGER NOT NULL,
     expires_at INTEGER,
     lost_row TEXT,
     PRIMARY KEY (id, idx)
   ) WITHOUT ROWID;
   INSERT INTO holds_v3 (id, idx, key, metric, bucket, amount, lease_until, expires_at)
     SELECT id, idx, key, metric, bucket, CASE WHEN metric = 'cost' THEN CAST(ROUND(amount * 10000000000) AS INTEGER) ELSE amount END, lease_until, expires_at FROM holds;
   DROP TABLE holds;
   ALTER TABLE holds_v3 RENAME TO holds;
   CREATE INDEX holds_by_counter ON holds (key, metric, bucket, lease_until, amount);
   CREATE INDEX holds_by_lease ON holds (lease_until);
   CREATE TABLE lost_calls (id TEXT PRIMARY KEY, charged_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX lost_calls_by_time ON lost_calls (charged_at);
   CREATE TABLE ledger_v3 (
     id INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     fields TEXT NOT NULL,
     model_requested TEXT,
     model_used TEXT,
     endpoint TEXT NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     cost_units INTEGER NOT NULL,
     rule_id TEXT,
     action TEXT,
     status INTEGER NOT NULL,
     latency_ms REAL NOT NULL,
     estimated INTEGER NOT NULL,
     estimate_reason TEXT,
     cost REAL GENERATED ALWAYS AS (cost_units / 10000000000.0) VIRTUAL
   );
   INSERT INTO ledger_v3 (id, time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens, cached_tokens,
       cost_units, rule_id, action, status, latency_ms, estimated)
     SELECT id, time, fields, model_requested, model_used, endpoint, input_tokens, output_tokens, cached_tokens,
       CAST(ROUND(cost * 10000000000) AS INTEGER), rule_id, action, status, latency_ms, estimated FROM ledger;
   DROP TABLE ledger;
   ALTER TABLE ledger_v3 RENAME TO ledger;
   CREATE INDEX ledger_by_time ON ledger (time);`,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = migrations.length;

/**
 * Brings `db` up to {@link SCHEMA_VERSION}, one transaction per step so that a crash mid-way
 * leaves a database at a consistent earlier version. `BEGIN IMMEDIATE` keeps two processes
 * opening the same new file from both running a step.
 */
export function migrate(db: SqliteDatabase, path: string): void {
  const step = db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version >= migrations.length) return false;
    db.exec(migrations[version]);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `tokenlay: SQLite store ${path} has schema version ${current}, newer than this tokenlay understands (${SCHEMA_VERSION}). Upgrade tokenlay, or point the store at another file.`,
    );
  }
  while (step.immediate()) {
    // each step re-reads the version inside its own transaction
  }
}
