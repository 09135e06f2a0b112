import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/sqlite-driver.js';
import { migrate } from '../../src/store/sqlite-schema.js';
import { STATEMENTS } from '../../src/store/sqlite-statements.js';
import { useTempDirs } from './temp-dir.js';

const tempDir = useTempDirs();

/**
 * Every statement of the SQLite store runs inside a call's reservation or settlement: one that
 * reads a whole table makes each call pay for every call in flight (600 holds in flight took a
 * call's reserve and settle from 63 to 117 µs when the lost-holder sweep scanned them).
 */
describe('SQLite store statements', () => {
  const db = openDatabase(join(tempDir(), 'plans.db'), 1000);
  migrate(db, 'plans.db');
  // Enough rows that the planner's choice is the one a busy file gets.
  for (let i = 0; i < 200; i++) {
    db.prepare('INSERT INTO holds (id, idx, key, metric, bucket, amount, lease_until, expires_at, lost_row) VALUES (?, 0, ?, ?, 0, 1, ?, NULL, NULL)').run(`id-${i}`, `k-${i % 20}`, 'requests', 1_000 + i);
  }

  for (const [name, sql] of Object.entries(STATEMENTS)) {
    it(`${name} finds its rows by an index, never a scan of a whole table`, () => {
      const params = Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => 0);
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail);
      // An INSERT has no rows to find; everything else must show how it finds them.
      if (!/^INSERT/.test(sql)) expect(plan.length).toBeGreaterThan(0);
      const scans = plan.filter((d) => /^SCAN (holds|counters|lost_calls|ledger)\b/.test(d) && !/USING (COVERING )?INDEX/.test(d));
      expect({ name, scans }).toEqual({ name, scans: [] });
    });
  }
});
