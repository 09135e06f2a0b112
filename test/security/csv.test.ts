/**
 * Every CSV the product writes (`tokenlay export`, `tokenlay usage --csv`, `GET /v1/usage?format=csv`)
 * comes from one writer, and no cell of it can start a formula in a spreadsheet: attribution
 * fields are whatever the app's users typed, and an operator opens these files.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LedgerRow } from '../../src/store/types.js';
import { writeFixtureLedger } from '../cli/fixture-ledger.js';
import { runCli } from '../cli/run-cli.js';
import { gatewayRig } from '../gateway/support.js';
import { useTempDirs } from '../store/temp-dir.js';

const tempDir = useTempDirs();

/** User ids a spreadsheet would run: each formula prefix OWASP lists, and the full-width forms. */
const HOSTILE = ['=1+1', '+1+1', '-1+1', '@SUM(1)', '\t=1+1', '\r=1+1', '=HYPERLINK("http://x","y")', '\uFF1D1+1', '\uFF0B1', '\uFF0D1', '\uFF20SUM(1)'];
const TIME = Date.UTC(2026, 10, 2);

const rowOf = (user: string, i: number, fields: Record<string, string> = {}): LedgerRow => ({
  time: TIME + i,
  fields: { user, ...fields },
  modelRequested: 'gpt-4o-mini',
  modelUsed: 'gpt-4o-mini',
  endpoint: '/v1/chat/completions',
  inputTokens: 1,
  outputTokens: 1,
  cachedTokens: 0,
  cost: 0.000001,
  ruleId: null,
  action: 'allow',
  status: 200,
  latencyMs: 1,
  estimated: false,
});

/** The cells of a CSV text (RFC 4180: quoted cells may hold commas, quotes and line breaks). */
function cells(csv: string): string[] {
  const out: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < csv.length; i++) {
    const c = csv[i]!;
    if (quoted) {
      if (c === '"' && csv[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',' || c === '\n') {
      out.push(cell);
      cell = '';
    }
    else cell += c;
  }
  if (cell !== '') out.push(cell);
  return out;
}

function expectNoFormula(csv: string, label: string): void {
  const all = cells(csv);
  for (const user of HOSTILE) expect(all, `${label}: ${JSON.stringify(user)}`).toContain(`'${user}`);
  const formulas = all.filter((c) => /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(c));
  expect(formulas, label).toEqual([]);
}

describe('CSV written by the product', () => {
  it('tokenlay export and tokenlay usage --csv neutralise every formula prefix, tab and carriage return included', async () => {
    const dir = tempDir();
    const db = join(dir, 'usage.db');
    await writeFixtureLedger(db, HOSTILE.map((u, i) => rowOf(u, i)));
    const exported = await runCli(['export', '--csv', '-', '--store', `sqlite:${db}`]);
    expect(exported.code, exported.stderr).toBe(0);
    expectNoFormula(exported.stdout, 'export');
    const usage = await runCli(['usage', '--by', 'user', '--from', '2026-11-01', '--to', '2026-12-01', '--store', `sqlite:${db}`, '--csv']);
    expect(usage.code, usage.stderr).toBe(0);
    expectNoFormula(usage.stdout, 'usage --csv');
  });

  it('GET /v1/usage?format=csv neutralises the same prefixes', async () => {
    const rig = await gatewayRig();
    HOSTILE.forEach((u, i) => rig.gateway.store.record({ ...rowOf(u, i, { account: 'acme' }), time: Date.now() - 1000 + i }));
    await rig.gateway.store.flush();
    const res = await fetch(`${rig.url}/v1/usage?group_by=user&format=csv`, { headers: { authorization: `Bearer ${rig.key}` } });
    expect(res.status).toBe(200);
    expectNoFormula(await res.text(), '/v1/usage');
  });

  it('keeps numbers as numbers and quotes what RFC 4180 asks', async () => {
    const { csvLine } = await import('../../src/cli/csv.js');
    expect(csvLine(['a,b', 'say "hi"', 'two\nlines', -1.5, 0, true, null, undefined])).toBe('"a,b","say ""hi""","two\nlines",-1.5,0,true,,');
  });
});
