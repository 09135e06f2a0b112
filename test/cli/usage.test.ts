import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli as runGatewayFolderCli } from '../gateway/cli.js';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../store/temp-dir.js';
import { writeFixtureLedger } from './fixture-ledger.js';
import { runCli } from './run-cli.js';

const tempDir = useTempDirs();
const NOVEMBER = ['--from', '2026-11-01', '--to', '2026-12-01'];

async function fixture(): Promise<string> {
  const db = join(tempDir(), 'usage.db');
  await writeFixtureLedger(db);
  return `sqlite:${db}`;
}

describe('tokenlay usage', () => {
  it('prints an aligned table by user with a total that sums the groups', async () => {
    const store = await fixture();
    const { code, stdout, stderr } = await runCli(['usage', '--by', 'user', ...NOVEMBER, '--store', store]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Usage by user, 2026-11-01T00:00:00.000Z to 2026-12-01T00:00:00.000Z');
    const table = lines.slice(1);
    // Every line of the table is as wide as the border: the columns line up.
    expect(new Set(table.map((l) => l.length)).size).toBe(1);
    const cells = (l: string) => l.split('│').slice(1, -1).map((c) => c.trim());
    const body = table.filter((l) => l.startsWith('│')).map(cells);
    expect(body).toEqual([
      ['user', 'calls', 'refused', 'input tokens', 'output tokens', 'cost (USD)'],
      ['alice', '2', '0', '5,200', '1,300', '$0.0072'],
      ['carol, "the boss"', '1', '0', '100', '50', '$0.0008'],
      // A refused call is not a call: it has its own column.
      ['bob', '1', '1', '800', '200', '$0.0002'],
      ['(none)', '1', '0', '10', '10', '$0.000009'],
      ['total', '5', '1', '6,110', '1,560', '$0.0082'],
    ]);
  });

  it('--json gives the groups and exact totals for the period', async () => {
    const store = await fixture();
    const { code, stdout } = await runCli(['usage', '--by', 'model', ...NOVEMBER, '--store', store, '--json']);
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.by).toBe('model');
    expect(out.from).toBe('2026-11-01T00:00:00.000Z');
    expect(out.groups.map((g: { key: string; calls: number; blocked: number }) => [g.key, g.calls, g.blocked])).toEqual([
      ['gpt-4o-2024-08-06', 2, 0],
      ['gpt-4o-mini-2024-08-06', 3, 0],
      ['gpt-4o-mini', 0, 1],
    ]);
    expect(out.total).toMatchObject({ calls: 5, blocked: 1, inputTokens: 6110, outputTokens: 1560, tokens: 7670 });
    expect(out.total.cost).toBeCloseTo(0.006 + 0.0012 + 0.00024 + 0.00075 + 0.000009, 12);
  });

  it('--window month covers the current month only (the October call is left out)', async () => {
    const store = await fixture();
    const all = JSON.parse((await runCli(['usage', '--by', 'plan', '--from', '2026-10-01', '--to', '2026-12-01', '--store', store, '--json'])).stdout);
    const nov = JSON.parse((await runCli(['usage', '--by', 'plan', ...NOVEMBER, '--store', store, '--json'])).stdout);
    expect(all.total.calls).toBe(6);
    expect(nov.total.calls).toBe(5);
    expect(all.groups.find((g: { key: string }) => g.key === 'pro').calls).toBe(4);
  });

  it('--csv prints one line a group, quoting what needs it', async () => {
    const store = await fixture();
    const { stdout } = await runCli(['usage', '--by', 'user', ...NOVEMBER, '--store', store, '--csv']);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('user,calls,blocked,input_tokens,output_tokens,cached_tokens,cost_usd');
    expect(lines).toContain('"carol, ""the boss""",1,0,100,50,0,0.00075');
    expect(lines).toHaveLength(5);
  });

  it('refuses an unknown --by, a bad date and a missing ledger with the fix', async () => {
    const store = await fixture();
    const by = await runCli(['usage', '--by', 'colour', '--store', store]);
    expect(by.code).toBe(1);
    expect(by.stderr).toContain('--by "colour" cannot group usage; use one of user|org|plan|project|feature|model');
    const date = await runCli(['usage', '--from', 'yesterday', '--store', store]);
    expect(date.stderr).toContain('--from "yesterday" is not a date; use an ISO 8601 date');
    const none = await runCli(['usage']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no ledger to read; pass --store sqlite:');
    const missing = await runCli(['usage', '--store', 'sqlite:/nonexistent/usage.db']);
    expect(missing.stderr).toContain('the ledger file "/nonexistent/usage.db" does not exist');
    const win = await runCli(['usage', '--window', 'fortnight', '--store', store]);
    expect(win.stderr).toContain('--window "fortnight" is not a window; use one of day|week|month');
  });

  it('a mistyped flag gets "did you mean"; a flag missing its value says so', async () => {
    const store = await fixture();
    const typo = await runCli(['usage', '--windw', 'day', '--store', store]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('tokenlay usage: unknown flag --windw; did you mean --window?');
    const bare = await runCli(['usage', '--store', store, '--by']);
    expect(bare.stderr).toContain('--by needs a value: --by user|org|plan|project|feature|model.');
    const far = await runCli(['usage', '--colour', 'red']);
    expect(far.stderr).toContain('unknown flag --colour. Known flags: --by, --window');
  });

  it("run in the gateway's folder with no --store, reads the gateway's default ledger ./.tokenlay/usage.db", async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, '.tokenlay'));
    await writeFixtureLedger(join(cwd, '.tokenlay', 'usage.db'));
    const { code, stdout, stderr } = await runGatewayFolderCli(['usage', '--by', 'user', ...NOVEMBER, '--json'], { cwd });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).total).toMatchObject({ calls: 5, blocked: 1 });
    const empty = await runGatewayFolderCli(['usage'], { cwd: tempDir() });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("no ledger to read; pass --store sqlite:");
    expect(empty.stderr).toContain("the gateway's default ledger ./.tokenlay/usage.db is read, and");
  });

  it('hides a password in a ledger URL it cannot open', async () => {
    const { code, stderr } = await runCli(['usage', '--ledger', 'postgres://app:s3cret@127.0.0.1:5432/test']);
    expect(code).toBe(1);
    expect(stderr).not.toContain('s3cret');
    expect(stderr).toContain('postgres://app:***@127.0.0.1');
  });
});
