// examples/worker: a job queue whose jobs run in runWithTokenlay({ user, org, plan }), run to its end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from 'tokenlay';
import type { LedgerRow } from '../../src/store/types.js';
import { startProvider, type Provider, type Recorded } from '../support/provider.js';
import { installExample, runInExample, STAND_IN_KEY } from './support.js';

// Streamed answers report other token counts than plain ones, so the ledger shows which were metered from a stream.
const usage = (r: Recorded) => (r.body?.stream ? { prompt: 7, completion: 11 } : { prompt: 10, completion: 5 });
const FREE_MESSAGE = 'Free plan limit of 3 jobs a day reached; upgrade to run more.';

describe('examples/worker', () => {
  let provider: Provider;
  let folder: string;
  let store: string;
  const run = () =>
    runInExample('worker', ['npm', 'start', '--', '--jobs', '8'], {
      env: { PROVIDER_API_KEY: STAND_IN_KEY, PROVIDER_API_BASE: provider.base, TOKENLAY_STORE: store },
      timeoutMs: 60_000,
    });
  const ledger = async (): Promise<LedgerRow[]> => {
    const reader = createStore(store);
    try {
      return await reader.ledger();
    } finally {
      await reader.close();
    }
  };
  const of = (rows: LedgerRow[], user: string) => rows.filter((row) => row.fields.user === user);
  let first: { stdout: string; stderr: string };

  beforeAll(() => installExample('worker'), 300_000);
  beforeAll(async () => {
    provider = await startProvider({ usage });
    folder = mkdtempSync(join(tmpdir(), 'tokenlay-worker-'));
    store = `sqlite:${join(folder, 'usage.db')}`;
    first = await run();
  }, 90_000);
  afterAll(async () => {
    await provider?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("records every job's call in the ledger under the user the job belongs to, on that plan's model", async () => {
    const rows = await ledger();
    expect(rows).toHaveLength(8);
    expect(of(rows, 'alice').every((row) => row.fields.plan === 'free' && row.fields.org === 'acme')).toBe(true);
    expect(of(rows, 'bob').every((row) => row.fields.plan === 'pro' && row.fields.org === 'globex')).toBe(true);
    const answered = (user: string) => of(rows, user).filter((row) => row.status === 200);
    expect(answered('alice').map((row) => row.modelUsed)).toEqual(['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o-mini']);
    expect(answered('bob').map((row) => row.modelUsed)).toEqual(['gpt-4o', 'gpt-4o', 'gpt-4o', 'gpt-4o']);
    // What the provider saw: the 7 admitted calls, each on the model of its job owner's plan.
    expect(provider.requests.map((r) => r.body.model).sort()).toEqual([...Array(3).fill('gpt-4o-mini'), ...Array(4).fill('gpt-4o')].sort());
  });

  it("refuses alice's 4th job with the free rule's message and never sends it; bob's 4 jobs all run", async () => {
    const rows = await ledger();
    const refused = of(rows, 'alice').filter((row) => row.status !== 200);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ status: 429, ruleId: 'free-tier', action: 'block', inputTokens: 0, outputTokens: 0, cost: 0 });
    expect(of(rows, 'bob').every((row) => row.status === 200)).toBe(true);
    expect(first.stdout).toContain(`job 7 (alice, free) draft: refused by free-tier: ${FREE_MESSAGE}`);
    expect(provider.requests).toHaveLength(7);
  });

  it('meters streamed jobs from the usage at the end of the stream, not an estimate', async () => {
    const rows = (await ledger()).filter((row) => row.status === 200);
    const streamed = rows.filter((row) => row.inputTokens === 7);
    expect(streamed.map((row) => [row.fields.user, row.outputTokens, row.estimated])).toEqual(
      expect.arrayContaining([['alice', 11, false], ['bob', 11, false], ['bob', 11, false]]),
    );
    expect(streamed).toHaveLength(3);
    expect(provider.requests.filter((r) => r.body.stream)).toHaveLength(3);
    for (const row of rows) expect(row.cost).toBeGreaterThan(0);
  });

  it('prints a per-user summary from the ledger and exits', async () => {
    // user, plan, calls, refused, tokens in, tokens out: alice 10+7+10 in, 5+11+5 out; bob 2×10+2×7, 2×5+2×11.
    expect(first.stdout).toMatch(/│ alice\s+│ free\s+│ 3\s+│ 1\s+│ 27\s+│ 21\s+│ 0\.\d+\s+│/);
    expect(first.stdout).toMatch(/│ bob\s+│ pro\s+│ 4\s+│ 0\s+│ 34\s+│ 32\s+│ 0\.\d+\s+│/);
    expect(first.stdout + first.stderr).not.toContain(STAND_IN_KEY);
  });

  it("keeps alice's daily count across runs: a second run refuses all her jobs, because the counters live in SQLite", async () => {
    const before = provider.requests.length;
    const second = await run();
    expect(second.stdout.match(/\(alice, free\) \w+: refused by free-tier/g)).toHaveLength(4);
    expect(provider.requests.length - before).toBe(4); // bob's 4 only
    expect(second.stdout).toMatch(/│ alice\s+│ free\s+│ 3\s+│ 5\s+│/);
  });
});
