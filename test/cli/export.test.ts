import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../store/temp-dir.js';
import { FIXTURE_ROWS, writeFixtureLedger } from './fixture-ledger.js';
import { runCli } from './run-cli.js';
import type { LedgerRow } from '../../src/store/types.js';

const tempDir = useTempDirs();

describe('tokenlay export', () => {
  it('writes every ledger row to the CSV file, oldest first, with a header', async () => {
    const dir = tempDir();
    await writeFixtureLedger(join(dir, 'usage.db'));
    const file = join(dir, 'out.csv');
    const { code, stderr } = await runCli(['export', '--csv', file, '--store', `sqlite:${join(dir, 'usage.db')}`]);
    expect(code).toBe(0);
    expect(stderr).toContain(`wrote 7 rows to ${file}`);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(
      'time,user,org,plan,project,feature,fields,model_requested,model_used,endpoint,input_tokens,output_tokens,cached_tokens,cost_usd,rule_id,action,status,latency_ms,estimated,estimate_reason',
    );
    expect(lines).toHaveLength(1 + FIXTURE_ROWS.length);
    expect(lines[1]).toBe('2026-10-31T19:00:00.000Z,alice,acme,pro,,,"{""user"":""alice"",""org"":""acme"",""plan"":""pro""}",gpt-4o,gpt-4o-2024-08-06,/v1/chat/completions,1000,500,0,0.0075,,allow,200,12,false,');
    expect(lines[5]).toContain(',block,429,');
  });

  it('--from/--to limit the rows; a big ledger shows a progress bar', async () => {
    const dir = tempDir();
    const base = FIXTURE_ROWS[1]!;
    const many: LedgerRow[] = Array.from({ length: 3000 }, (_, i) => ({ ...base, time: base.time + i * 1000, fields: { user: `u${i % 7}` } }));
    await writeFixtureLedger(join(dir, 'big.db'), many);
    const file = join(dir, 'big.csv');
    const to = new Date(base.time + 2000 * 1000).toISOString();
    const { code, stderr } = await runCli(['export', '--csv', file, '--to', to, '--progress', '--store', `sqlite:${join(dir, 'big.db')}`]);
    expect(code).toBe(0);
    expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(2001);
    expect(stderr).toContain('2000/2000 rows');
  });

  it('--csv - into a reader that stops early (| head -3) ends quietly: no write EPIPE', async () => {
    const dir = tempDir();
    const base = FIXTURE_ROWS[1]!;
    // Far more than a pipe holds, so the writes are still going when head exits.
    const many: LedgerRow[] = Array.from({ length: 5000 }, (_, i) => ({ ...base, time: base.time + i * 1000, fields: { user: `u${i % 7}` } }));
    await writeFixtureLedger(join(dir, 'big.db'), many);
    const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
    const command = `"${process.execPath}" --import tsx "${main}" export --csv - --store "sqlite:${join(dir, 'big.db')}" | head -3`;
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile('sh', ['-c', command], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr }))),
    );
    expect(stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(stderr).toBe('');
  });

  it('asks for the file when --csv is missing', async () => {
    const { code, stderr } = await runCli(['export', '--store', 'sqlite::memory:']);
    expect(code).toBe(1);
    expect(stderr).toContain('name the file to write with --csv FILE');
  });
});
