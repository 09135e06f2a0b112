import express from 'express';
import { describe, expect, it } from 'vitest';
import { runWithTokenlay, TokenlayConfigError, TokenlayLimitError, getTokenlayMetadata, type TokenlayOpenAI } from '../../src/index.js';
import { tokenlay } from '../../adapters/express.js';
import { listen } from '../support/http.js';
import { clientFor, onCleanup, type Mode } from './support.js';
import { gatewayRig } from '../gateway/support.js';

// gpt-4o at $2.50 / $10 per million tokens: a call of 10 input and at most 50 output tokens costs
// at most $0.000525; a run budget of $0.005 holds nine such calls, not twenty.
const RUN_CAP = 0.005;
const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 50 };
const NO_RULES = { version: '0.1', rules: [] };

async function twenty(openai: TokenlayOpenAI): Promise<{ costs: number[]; refused: TokenlayLimitError[] }> {
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => openai.chat.completions.create(body)));
  const costs: number[] = [];
  const refused: TokenlayLimitError[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') costs.push(getTokenlayMetadata(r.value)!.cost);
    else if (r.reason instanceof TokenlayLimitError) refused.push(r.reason);
    else throw r.reason;
  }
  return { costs, refused };
}

const sum = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 1e10) / 1e10;

describe.each<Mode>(['embedded', 'remote'])('run budgets, %s mode', (mode) => {
  it('caps 20 parallel calls of one run together, atomically, and refuses the rest with limit.type run', async () => {
    const { openai, provider } = await clientFor(mode, NO_RULES);
    const { costs, refused } = await runWithTokenlay({ user: 'ann', budget: { cost: RUN_CAP } }, () => twenty(openai));
    expect(costs.length + refused.length).toBe(20);
    expect(refused.length).toBeGreaterThan(0);
    expect(sum(costs)).toBeLessThanOrEqual(RUN_CAP);
    // The cap was used, not merely refused from the start: at most one call's worth is left.
    expect(sum(costs)).toBeGreaterThan(RUN_CAP - 0.000525 * 2);
    // Only the admitted calls reached the provider.
    expect(provider.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(costs.length);
    const e = refused[0]!;
    expect(e.status).toBe(429);
    expect(e.limit).toMatchObject({ type: 'run', metric: 'cost', window: 'run', max: RUN_CAP });
    expect(e.headers?.get('x-should-retry')).toBe('false');
    expect(e.message).toContain(`has a budget of $${RUN_CAP} for all its calls together`);

    // Another run has its own budget; calls outside any run are not capped by either.
    const other = await runWithTokenlay({ user: 'ann', budget: { cost: RUN_CAP } }, () => openai.chat.completions.create(body));
    expect(getTokenlayMetadata(other)!.budgetLimit).toBe('cost/run');
    await expect(runWithTokenlay({ user: 'ann' }, () => openai.chat.completions.create(body))).resolves.toBeDefined();
  });

  it('caps each request of an Express app with the adapter’s budget option', async () => {
    const { openai } = await clientFor(mode, NO_RULES);
    const app = express();
    app.use(tokenlay({ identify: () => ({ user: 'bo' }), budget: { requests: 3 } }));
    app.post('/agent', async (_req, res) => {
      const settled = await Promise.allSettled(Array.from({ length: 20 }, () => openai.chat.completions.create(body)));
      res.json({
        answered: settled.filter((s) => s.status === 'fulfilled').length,
        runRefusals: settled.filter((s) => s.status === 'rejected' && (s.reason as TokenlayLimitError).limit?.type === 'run').length,
      });
    });
    const server = await listen(app);
    onCleanup(() => server.close());
    const agent = async () => (await fetch(`${server.url}/agent`, { method: 'POST' })).json();
    expect(await agent()).toEqual({ answered: 3, runRefusals: 17 });
    // The next request is a new run.
    expect(await agent()).toEqual({ answered: 3, runRefusals: 17 });
  });
});

describe('run budget input', () => {
  it('refuses a budget that is not one, saying what to give', () => {
    expect(() => runWithTokenlay({ budget: { cost: -1 } }, () => 0)).toThrow(TokenlayConfigError);
    expect(() => runWithTokenlay({ budget: { cost: -1 } }, () => 0)).toThrow('tokenlay: runWithTokenlay() budget: cost must be a positive number (USD), got -1. E.g. { budget: { cost: 0.5 } } caps the run at $0.50.');
    expect(() => runWithTokenlay({ budget: {} }, () => 0)).toThrow('give at least one of cost (USD), tokens or requests');
    expect(() => runWithTokenlay({ budget: { dollars: 1 } as never }, () => 0)).toThrow('unknown cap "dollars"; expected cost (USD), tokens or requests');
    expect(() => tokenlay({ budget: { requests: 1.5 } })).toThrow('tokenlay: tokenlay({ budget }) budget: requests must be a positive integer, got 1.5');
  });
});

describe('x-tokenlay-run-budget a proxy cannot read', () => {
  it('is answered 400 invalid_run_budget quoting the amount it was given', async () => {
    const rig = await gatewayRig({ rules: { rules: [] } });
    for (const [header, quoted] of [['r1;cost=-1', '"-1"'], ['r1;cost=abc', '"abc"'], ['r1;tokens=', '""'], ['r1;cost', '""']] as const) {
      const res = await fetch(`${rig.url}/v1/budget`, { headers: rig.headers({ 'x-tokenlay-user': 'ann', 'x-tokenlay-run-budget': header }) });
      expect(res.status, header).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string; param: string } };
      expect(error, header).toMatchObject({ code: 'invalid_run_budget', param: 'x-tokenlay-run-budget' });
      expect(error.message, header).toContain(`got ${quoted}`);
    }
    expect(rig.chatCalls()).toBe(0);
  });
});
