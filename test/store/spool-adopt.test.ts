import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adoptDeadSpools } from '../../src/store/postgres-spool.js';
import { useTempDirs } from './temp-dir.js';

const tempDir = useTempDirs();
// The host as the spool's file and lock name it.
const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_') || 'host';

describe('spools of a dead instance, adopted by two instances at once', () => {
  it('both replay and retire them without an error, and no file of the dead spool is left', () => {
    const dir = tempDir();
    // A process that has ended (and was reaped): the owner the next instances find dead.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const spool = join(dir, `ledger-${host}-${dead}.spool`);
    const row = (k: string) => JSON.stringify({ k, row: { time: 0, fields: { user: 'u' }, cost: 0.001 } });
    writeFileSync(spool, `${row('a')}\n${row('b')}\n`);
    writeFileSync(`${spool}.lock`, `${dead}@${host}`);

    // Both look before either has taken it: each opens it as its own.
    const first = adoptDeadSpools(join(dir, 'ledger-first.spool'));
    const second = adoptDeadSpools(join(dir, 'ledger-second.spool'));
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(1);
    const a = first[0]!.leftovers();
    const b = second[0]!.leftovers();
    expect(a.flatMap((s) => s.rows.map((r) => r.k))).toEqual(['a', 'b']);
    // The first writes its rows and retires the spool; the second, replaying the same rows (kept
    // once by their idempotency keys), then finds the files gone.
    for (const s of a) first[0]!.done(s);
    first[0]!.retire();
    for (const s of b) second[0]!.done(s);
    expect(() => second[0]!.retire()).not.toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('the second to move the live file aside, after the first moved it and removed the spool, keeps its rows and does not fail its start', () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const spool = join(dir, `ledger-${host}-${dead}.spool`);
    const line = JSON.stringify({ k: 'a', row: { time: 0, fields: { user: 'u' }, cost: 0.001 } });
    writeFileSync(spool, `${line}\n`);
    writeFileSync(`${spool}.lock`, `${dead}@${host}`);
    const [first] = adoptDeadSpools(join(dir, 'ledger-first.spool'));
    const [second] = adoptDeadSpools(join(dir, 'ledger-second.spool'));
    // The second has read the live rows; the first moves the file aside, writes and retires it.
    const rows = [{ k: 'a', row: JSON.parse(line).row }];
    for (const s of first!.leftovers()) first!.done(s);
    first!.retire();
    // Before: ENOENT from the rename, and the instance failed to start.
    const segment = second!.rotate(rows);
    expect(segment?.rows).toEqual(rows);
    second!.done(segment!);
    second!.retire();
    expect(readdirSync(dir)).toEqual([]);
  });
});
