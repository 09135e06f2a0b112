import { describe, expect, it } from 'vitest';
import { openWith } from './drivers-child.js';

describe('without pg installed', () => {
  it('refuses a postgres:// ledger with the install command', async () => {
    const result = await openWith({ store: 'memory', ledger: 'postgres://postgres:hunter2@127.0.0.1:5432/test' }, true);
    expect(result.error).toBe("tokenlay: the Postgres ledger needs the pg package, which could not be loaded (Cannot find module 'pg'). Run: npm install pg");
  });
});
