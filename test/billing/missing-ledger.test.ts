/** `tokenlay billing push` and `reconcile` pointed at a SQLite file that is not there: said so, and no file is left behind. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../store/temp-dir.js';
import { runCli } from './ledger-fixture.js';

const tempDir = useTempDirs();

describe('tokenlay billing with --store naming no file', () => {
  it('says there is no such file and creates none (push and reconcile)', async () => {
    const typo = join(tempDir(), 'usgae.db');
    const push = await runCli(['billing', 'push', '--to', 'stripe', '--store', `sqlite:${typo}`], { STRIPE_API_KEY: 'sk_test_51TokenlayStandInKey0000000000000000' });
    expect(push.code).toBe(1);
    expect(push.output).toContain(`there is no SQLite file at ${typo}`);
    expect(existsSync(typo)).toBe(false);
    const reconcile = await runCli(['billing', 'reconcile', '--from', '2026-11-01', '--to', '2026-12-01', '--store', `sqlite:${typo}`]);
    expect(reconcile.code).toBe(1);
    expect(reconcile.output).toContain(`there is no SQLite file at ${typo}`);
    expect(existsSync(typo)).toBe(false);
  }, 60_000);
});
