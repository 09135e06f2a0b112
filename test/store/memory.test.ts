import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { check, row, storeContract } from './contract.js';

storeContract('memory', () => createMemoryStore());

describe('memory store', () => {
  it('keeps only the most recent ledger rows beyond maxLedgerRows', async () => {
    const store = createMemoryStore({ maxLedgerRows: 10 });
    for (let i = 0; i < 100; i++) store.record(row({ time: i }));
    const rows = await store.ledger();
    expect(rows.length).toBeLessThanOrEqual(11);
    expect(rows.at(-1)?.time).toBe(99);
  });

  it('charges a never-settled reservation at its amount once its lease is over, and forgets it', async () => {
    const store = createMemoryStore({ settleGraceMs: 1000 });
    const c = check({ key: 'tok', metric: 'tokens', bucket: 0, expiresAt: null, max: 1000, amount: 5 });
    const r = await store.reserve([c], { now: 0, leaseMs: 1000 });
    if (!r.ok) throw new Error('expected admission');
    await store.reserve([check({ key: 'other' })], { now: 10_000, leaseMs: 1000 }); // charges and sweeps
    await store.settle(r.id, { requests: 1, tokens: 50, cost: 0 });
    expect(await store.read('tok', 'tokens', 0, 10_000)).toEqual({ used: 5, reserved: 0 });
  });
});
