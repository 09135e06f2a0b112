import { describe, expect, it } from 'vitest';
import { createStore, TokenlayConfigError, TokenlayError, TokenlayOpenAI } from '../../src/index.js';

const rules = { rules: [] };

describe('store and engine configuration errors', () => {
  it.each([
    ['an unknown store', 'mongodb://user:secret@db/x', /unknown store "mongodb:\/\/user:\*\*\*@db\/x"/],
    ['a Postgres URL given as the counter store', 'postgres://user:secret@db/x', /Postgres holds the ledger, not counters; pass it as ledger/],
    ['a sqlite store without a file', 'sqlite:', /names no file/],
    ['a redis store that is not a URL', 'redis://user:secret@127.0.0.1:notaport', /is not a valid URL; use "redis:\/\/host:6379"/],
  ])('refuses %s with a TokenlayConfigError', (_what, spec, message) => {
    const err = (() => {
      try {
        createStore(spec);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TokenlayConfigError);
    expect(err).toBeInstanceOf(TokenlayError);
    expect((err as Error).name).toBe('TokenlayConfigError');
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('secret');
  });

  it('refuses a store that is neither a string nor a store object', () => {
    expect(() => createStore(42 as any)).toThrow(TokenlayConfigError);
  });

  it('refuses a bad store spec given to the client in embedded mode', () => {
    expect(() => new TokenlayOpenAI({ providerApiKey: 'sk-x', policy: rules, store: 'nonsense' })).toThrow(TokenlayConfigError);
  });

  it('refuses a price override that is not a number of USD per 1M tokens', () => {
    const make = () => new TokenlayOpenAI({ providerApiKey: 'sk-x', policy: rules, store: 'memory', prices: { 'my-model': { input: -1, output: 2 } } });
    expect(make).toThrow(TokenlayConfigError);
    expect(make).toThrow(/my-model.*input must be a number >= 0/);
  });
});
