/**
 * `tokenlay simulate` checked on a ledger made by the demo (`npm run demo`): its numbers per user
 * match what the same traffic (the demo's app, users and provider stand-in) records when it is run
 * under the new rules.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../../scripts/ensure-built.mjs';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { costUnits, formatUsd } from '../../src/store/money.js';
import { isBlocked } from '../../src/store/usage-breakdown.js';
import { ROOT, cleanEnv } from '../examples/support.js';
import { runCli } from './ledger-fixture.js';

/** The demo's plans with tighter limits: free 2 requests a day, pro downgraded past $0.003, enterprise 4 requests a day. */
const NEW_RULES = `version: '0.1'
rules:
  - id: free-tier
    if: { plan: free }
    then:
      model: gpt-4o-mini
      model_params: { max_tokens: 150 }
      limits:
        - { type: requests, max: 2, window: day, per: user }
      on_limit_exceeded: { action: block }
  - id: pro-tier
    if: { plan: pro }
    then:
      model: gpt-4o
      model_params: { max_tokens: 300 }
      limits:
        - { type: cost, max: 0.003, window: month, per: user }
      on_limit_exceeded: { action: downgrade, downgrade_to: gpt-4o-mini }
  - id: enterprise-tier
    if: { plan: enterprise }
    then:
      model: gpt-4o
      model_params: { max_tokens: 300 }
      limits:
        - { type: requests, max: 4, window: day, per: user }
      on_limit_exceeded: { action: block }
plans:
  free: { price: 0 }
  pro: { price: 20, period: month }
  enterprise: { price: 500, period: month }
`;

const folders: string[] = [];
beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

async function ledgerRows(path: string) {
  const store = createSqliteStore({ path });
  try {
    return await store.ledger();
  } finally {
    await store.close();
  }
}

describe('tokenlay simulate on the demo’s ledger', () => {
  it('predicts, per user, the refusals, downgrades and cost that the same traffic gets under the new rules', async () => {
    // The demo's own run, under its own rules.
    const output = execFileSync('npm', ['run', 'demo', '--', '--no-serve', '--keep-ledger'], { cwd: ROOT, env: { ...cleanEnv(), PORT: '0' }, encoding: 'utf8', timeout: 120_000 });
    const demoDb = /SQLite at (\S+\.db)/.exec(output)?.[1];
    if (!demoDb) throw new Error(`the demo did not print its ledger:\n${output}`);
    folders.push(dirname(demoDb));
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-simulate-'));
    folders.push(dir);
    const rules = join(dir, 'new.yaml');
    writeFileSync(rules, NEW_RULES);

    const sim = await runCli(['simulate', '--rules', rules, '--from', '30d', '--store', `sqlite:${demoDb}`, '--json']);
    expect(sim.code).toBe(0);
    const predicted = JSON.parse(sim.output) as { users: Array<{ user: string; plan: string; calls: number; allowed: number; refused: number; downgraded: number; queued: number; cost: string; costBefore: string; revenue: string; margin: string }> };

    // The same traffic, run under the new rules.
    const actualDb = join(dir, 'usage.db');
    execFileSync(process.execPath, [join(import.meta.dirname, 'fixtures', 'demo-under-rules.mjs'), rules, actualDb], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8', timeout: 120_000 });
    const actual = await ledgerRows(actualDb);
    const before = await ledgerRows(demoDb);

    for (const user of ['alice', 'bob', 'carol']) {
      const rows = actual.filter((r) => r.fields.user === user);
      const p = predicted.users.find((u) => u.user === user)!;
      const cost = rows.reduce((n, r) => n + BigInt(costUnits(r.cost)), 0n);
      expect({ user, calls: p.calls, allowed: p.allowed, refused: p.refused, downgraded: p.downgraded, queued: p.queued, cost: p.cost }).toEqual({
        user,
        calls: rows.length,
        allowed: rows.filter((r) => !isBlocked(r)).length,
        refused: rows.filter(isBlocked).length,
        downgraded: rows.filter((r) => r.action === 'downgrade').length,
        queued: rows.filter((r) => r.action === 'queue' && !isBlocked(r)).length,
        cost: formatUsd(cost),
      });
      expect(p.costBefore).toBe(formatUsd(before.filter((r) => r.fields.user === user).reduce((n, r) => n + BigInt(costUnits(r.cost)), 0n)));
      expect(p.margin).toBe(formatUsd(BigInt(Math.round(Number(p.revenue) * 1e10)) - cost));
    }
    // The new rules change something for each user: the check is not of a replay that changes nothing.
    const by = (u: string) => predicted.users.find((x) => x.user === u)!;
    expect(by('alice').refused).toBe(3);
    expect(by('bob').downgraded).toBeGreaterThan(4);
    expect(by('carol').refused).toBe(2);
  }, 300_000);
});
