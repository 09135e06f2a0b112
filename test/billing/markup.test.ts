/** `plans.<plan>.markup` in the rules file, and the exact value billed with it. */
import { describe, expect, it } from 'vitest';
import { valueOf } from '../../src/billing/value.js';
import { loadRules } from '../../src/policy/load.js';
import type { LedgerRow } from '../../src/store/types.js';

const row = (cost: number, plan: string): LedgerRow => ({
  time: 0, fields: { plan }, modelRequested: 'gpt-4o', modelUsed: 'gpt-4o', endpoint: '/v1/chat/completions', inputTokens: 10, outputTokens: 5,
  cachedTokens: 0, cost, ruleId: null, action: 'allow', status: 200, latencyMs: 1, estimated: false,
});

describe('plans.<plan>.markup', () => {
  it('is read from the rules file beside price and period', () => {
    const rules = loadRules({ version: '0.1', rules: [], plans: { pro: { price: 20, markup: 1.3 }, free: { price: 0 } } });
    expect(rules.plans).toEqual({ pro: { price: 20, period: 'month', markup: 1.3 }, free: { price: 0, period: 'month' } });
  });

  it('refuses a markup that is not a number above 0, naming its path', () => {
    expect(() => loadRules({ version: '0.1', rules: [], plans: { pro: { price: 20, markup: 0 } } })).toThrow(/plans\["pro"\]\.markup: expected what a call's cost is multiplied by when billed \(a number > 0, e\.g\. 1\.3 for 30 % on top\), got 0/);
    expect(() => loadRules({ version: '0.1', rules: [], plans: { pro: { price: 20, markup: '30%' } } })).toThrow(/plans\["pro"\]\.markup: .*got "30%"/);
  });

  it('multiplies the cost exactly, on whole 1e-10 USD, with no float noise', () => {
    // 0.0001 × 1.3 is 0.00013000000000000002 in floating point; billed, it is 0.00013.
    expect(valueOf(row(0.0001, 'pro'), 'cost', { pro: 1.3 })).toBe('0.00013');
    expect(valueOf(row(0.0000000007, 'pro'), 'cost', { pro: 1.5 })).toBe('0.0000000011');
    expect(valueOf(row(0.0025, 'free'), 'cost', { pro: 1.3 })).toBe('0.0025');
    expect(valueOf(row(0.0025, 'pro'), 'tokens', { pro: 1.3 })).toBe('15');
  });
});
