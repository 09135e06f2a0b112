import express from 'express';
import { describe, expect, it } from 'vitest';
import { getTokenlayBudget, getTokenlayMetadata, runWithTokenlay, TokenlayScopeError } from '../../src/index.js';
import { tokenlay } from '../../adapters/express.js';
import { listen } from '../support/http.js';
import { clientFor, onCleanup, type Mode } from './support.js';

const RULES = {
  version: '0.1',
  rules: [
    {
      id: 'free',
      if: { plan: 'free' },
      then: {
        limits: [
          { type: 'requests', max: 5, window: 'day', per: 'user' },
          { type: 'cost', max: 0.01, window: 'month', per: 'user' },
        ],
      },
    },
  ],
};
const NOW_MONTH_END = () => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString().replace('.000Z', 'Z');
};

describe.each<Mode>(['embedded', 'remote'])('getTokenlayBudget() in Express, %s mode', (mode) => {
  it('shows each user what each limit has left, and each answer says what its tightest limit has left', async () => {
    const { openai } = await clientFor(mode, RULES);
    const app = express();
    app.use(tokenlay({ identify: (req) => ({ user: String(req.headers['x-user']), plan: 'free' }) }));
    app.post('/chat', async (_req, res) => {
      const completion = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 });
      const meta = getTokenlayMetadata(completion)!;
      res.json({ cost: meta.cost, budgetRemaining: meta.budgetRemaining, budgetLimit: meta.budgetLimit });
    });
    app.get('/budget', async (_req, res) => res.json(await getTokenlayBudget()));
    const server = await listen(app);
    onCleanup(() => server.close());
    const post = async (user: string) => (await fetch(`${server.url}/chat`, { method: 'POST', headers: { 'x-user': user } })).json();
    const budget = async (user: string) => (await fetch(`${server.url}/budget`, { headers: { 'x-user': user } })).json();

    const fresh = await budget('ann');
    expect(fresh).toEqual([
      { ruleId: 'free', type: 'requests', window: 'day', max: 5, used: 0, remaining: 5, resetsAt: expect.stringMatching(/T00:00:00Z$/) },
      { ruleId: 'free', type: 'cost', window: 'month', max: 0.01, used: 0, remaining: 0.01, resetsAt: NOW_MONTH_END() },
    ]);
    const first = await post('ann');
    expect(first).toMatchObject({ budgetRemaining: 4, budgetLimit: 'requests/day' });
    const second = await post('ann');
    expect(second.budgetRemaining).toBe(3);
    const after = await budget('ann');
    const spent = Math.round((first.cost + second.cost) * 1e10) / 1e10;
    expect(spent).toBeGreaterThan(0);
    expect(after[0]).toMatchObject({ type: 'requests', used: 2, remaining: 3 });
    expect(after[1]).toMatchObject({ type: 'cost', used: spent, remaining: Math.round((0.01 - spent) * 1e10) / 1e10 });
    // Another user's budget is their own.
    expect((await budget('bob'))[0]).toMatchObject({ used: 0, remaining: 5 });
  });

  it('lists a run’s budget after the rule’s limits, and refuses outside a scope', async () => {
    const { openai } = await clientFor(mode, RULES);
    await runWithTokenlay({ user: 'cy', plan: 'free', budget: { cost: 0.002 } }, async () => {
      await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 });
      const limits = await getTokenlayBudget({ client: openai });
      expect(limits.map((l) => l.type)).toEqual(['requests', 'cost', 'run']);
      const run = limits[2]!;
      expect(run).toMatchObject({ ruleId: null, type: 'run', metric: 'cost', window: 'run', max: 0.002, resetsAt: null });
      expect(run.used).toBe(limits[1]!.used);
      expect(run.remaining).toBe(Math.round((0.002 - run.used) * 1e10) / 1e10);
    });
    await expect(getTokenlayBudget()).rejects.toThrow(TokenlayScopeError);
  });
});
