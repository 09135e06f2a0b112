import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenlayOpenAI, runWithTokenlay } from '../../src/index.js';
import { limitStatus } from '../../src/dashboard/limit-status.js';
import { validateRules } from '../../src/policy/index.js';
import { createStore } from '../../src/store/index.js';
import { startProvider, type Provider } from '../support/provider.js';

// What the Limits panel says of a counter at its cap is what its rule does there, and only the
// limit that refused is marked: checked on the real engine and store for every action.
const RULES = {
  version: '0.1',
  prices: { 'gpt-4o-mini': { input: 1000, output: 2000 } },
  rules: [
    { id: 'warned', if: { plan: 'warn' }, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }], on_limit_exceeded: { action: 'warn' } } },
    { id: 'queued', if: { plan: 'queue' }, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }], on_limit_exceeded: { action: 'queue', delay_seconds: 1 } } },
    {
      id: 'two-limits',
      if: { plan: 'two' },
      then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }, { type: 'cost', max: 100, window: 'month', per: 'user' }] },
    },
  ],
};

let provider: Provider;
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(() => provider.close());

describe('limitStatus', () => {
  it('marks a full counter warned or queued as its rule does, and a refused call marks only the limit that refused', async () => {
    const store = createStore('memory');
    const openai = new TokenlayOpenAI({ providerApiKey: 'sk-p', providerApiBase: provider.base, policy: RULES, store, maxRetries: 0 });
    const call = (user: string, plan: string) =>
      runWithTokenlay({ user, plan }, () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).then(
        () => 200,
        (err: { status?: number }) => err.status ?? 0,
      );
    expect([await call('wes', 'warn'), await call('wes', 'warn')]).toEqual([200, 200]);
    expect([await call('quinn', 'queue'), await call('quinn', 'queue')]).toEqual([200, 429]);
    expect([await call('frank', 'two'), await call('frank', 'two')]).toEqual([200, 429]);
    await openai.close();
    const statuses = await limitStatus(store, validateRules(RULES), {}, Date.now());
    expect(statuses.map((s) => [s.scope, s.ruleId, s.type, s.state])).toEqual([
      ['user=frank', 'two-limits', 'requests', 'blocked'],
      ['user=wes', 'warned', 'requests', 'warned'],
      ['user=quinn', 'queued', 'requests', 'queued'],
    ]);
    // frank's cost counter ($0.00003 of $100) had nothing to do with his refusal: not listed.
    expect(statuses.filter((s) => s.type === 'cost')).toEqual([]);
    // A filter on the fields narrows the list.
    expect((await limitStatus(store, validateRules(RULES), { user: 'wes' }, Date.now())).map((s) => s.scope)).toEqual(['user=wes']);
    await store.close();
  }, 30_000);
});
