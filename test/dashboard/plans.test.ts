import { describe, expect, it } from 'vitest';
import { tokenlayDashboard } from 'tokenlay/dashboard';
import { loadRules } from '../../src/policy/load.js';

const doc = (plans: unknown) => ({ version: '0.1', rules: [], plans });

describe('the plans: extension of the rules file', () => {
  it('reads prices in USD with month as the default period', () => {
    expect(loadRules(doc({ pro: { price: 20, period: 'month' }, team: { price: 200, period: 'year' }, free: { price: 0 } })).plans).toEqual({
      pro: { price: 20, period: 'month' },
      team: { price: 200, period: 'year' },
      free: { price: 0, period: 'month' },
    });
  });

  it('refuses a bad price, period or key, naming the path and the fix', () => {
    let message = '';
    try {
      loadRules(doc({ pro: { price: '20', period: 'fortnight', seats: 3 }, free: 'gratis' }));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('plans["pro"].price: expected what a user on the plan pays, in USD (a number >= 0), got "20"');
    expect(message).toContain('plans["pro"].period: expected one of day|week|month|year, got "fortnight"');
    expect(message).toContain('plans["pro"].seats: unknown key; expected one of price, period');
    expect(message).toContain('plans["free"]: expected { price, period } (price in USD), got "gratis"');
    expect(() => loadRules(doc([]))).toThrow('plans: expected an object of plan name to { price, period }');
  });
});

describe('tokenlayDashboard options', () => {
  it('asks for the store when none is given', () => {
    expect(() => tokenlayDashboard({} as never)).toThrow("tokenlayDashboard: pass the store the engine writes, e.g. tokenlayDashboard({ store: 'sqlite:./.tokenlay/usage.db' })");
  });

  it('refuses a refresh faster than 250 ms and malformed rules at once', () => {
    expect(() => tokenlayDashboard({ store: 'memory', refreshMs: 10 })).toThrow('refreshMs must be at least 250 (ms); got 10');
    expect(() => tokenlayDashboard({ store: 'memory', rules: doc({ pro: { price: -1 } }) })).toThrow('plans["pro"].price');
  });
});
