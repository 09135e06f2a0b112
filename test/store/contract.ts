import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { combineStores } from '../../src/store/combine.js';
import { HOLDER_LOST, type CounterCheck, type CounterStore, type Ledger, type LedgerRow, type TokenlayStore } from '../../src/store/types.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const LEASE = { now: T0, leaseMs: 30_000 };

/** A check on the current minute of `key`, with everything a test does not care about defaulted. */
export function check(over: Partial<CounterCheck> & Pick<CounterCheck, 'key'>): CounterCheck {
  return { metric: 'requests', bucket: T0, expiresAt: T0 + MINUTE, max: 10, amount: 1, ...over };
}

export function row(over: Partial<LedgerRow> = {}): LedgerRow {
  return {
    time: T0,
    fields: { user: 'alice' },
    modelRequested: 'gpt-4o-mini',
    modelUsed: 'gpt-4o-mini-2024-07-18',
    endpoint: '/v1/chat/completions',
    inputTokens: 10,
    outputTokens: 5,
    cachedTokens: 0,
    cost: 0.0001,
    ruleId: null,
    action: null,
    status: 200,
    latencyMs: 120,
    estimated: false,
    ...over,
  };
}

function admitted(store: CounterStore, checks: CounterCheck[], now = T0, leaseMs = 30_000) {
  return store.reserve(checks, { now, leaseMs }).then((r) => r.ok);
}

/**
 * The behaviour every TokenlayStore must have, run against each implementation: the counter
 * contract and the ledger contract on the one object, and once more on the two halves joined by
 * `combineStores` (as Redis counters and a Postgres ledger will be).
 */
export function storeContract(name: string, make: () => TokenlayStore | Promise<TokenlayStore>): void {
  counterStoreContract(name, make);
  ledgerContract(name, make);
  lostHolderContract(name, make);
  describe(`${name} store, its halves joined by combineStores`, () => {
    it('reserves on the counters and records on the ledger of the halves it joins', async () => {
      const counters = await make();
      const ledger = await make();
      const joined = combineStores(counters, ledger);
      const r = await joined.reserve([check({ key: 'j', max: 1 })], LEASE);
      expect(r.ok).toBe(true);
      expect((await counters.read('j', 'requests', T0, T0)).reserved).toBe(1);
      expect((await ledger.read('j', 'requests', T0, T0)).reserved).toBe(0);
      joined.record(row());
      expect(await ledger.ledger()).toHaveLength(1);
      expect(await counters.ledger()).toHaveLength(0);
      await joined.close();
      await expect(counters.read('j', 'requests', T0, T0)).rejects.toThrow(/closed/);
      expect(() => ledger.record(row())).toThrow(/closed/);
    });
  });
}

/** The behaviour every CounterStore must have (reserve, settle, release, renew, read, close). */
export function counterStoreContract(name: string, make: () => CounterStore | Promise<CounterStore>): void {
  describe(`${name} counter store contract`, () => {
    let store: CounterStore;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(async () => {
      await store.close();
    });

    it('admits while used + reserved is under max and refuses at max', async () => {
      const c = check({ key: 'r|requests|minute|user=alice', max: 2 });
      expect(await admitted(store, [c])).toBe(true);
      expect(await admitted(store, [c])).toBe(true);
      const third = await store.reserve([c], LEASE);
      expect(third).toEqual({ ok: false, index: 0, current: 2, used: 0, reserved: 2 });
    });

    it('refuses the whole call and names the first exceeded check, reserving nothing', async () => {
      const perUser = check({ key: 'u', max: 5 });
      const perOrg = check({ key: 'o', max: 1 });
      await store.reserve([perOrg], LEASE);
      const result = await store.reserve([perUser, perOrg, check({ key: 'other', max: 0 })], LEASE);
      expect(result).toMatchObject({ ok: false, index: 1, current: 1 });
      expect(await store.read('u', 'requests', T0, T0)).toEqual({ used: 0, reserved: 0 });
    });

    it('settle replaces each reservation with the actual usage of its metric', async () => {
      const checks = [
        check({ key: 'req', metric: 'requests', amount: 1 }),
        check({ key: 'tok', metric: 'tokens', amount: 500, max: 10_000 }),
        check({ key: 'usd', metric: 'cost', amount: 0.05, max: 1 }),
        check({ key: 'con', metric: 'concurrent', amount: 1, max: 3 }),
      ];
      const r = await store.reserve(checks, LEASE);
      if (!r.ok) throw new Error('expected admission');
      expect(await store.read('tok', 'tokens', T0, T0)).toEqual({ used: 0, reserved: 500 });
      await store.settle(r.id, { requests: 1, tokens: 321, cost: 0.0123 });
      expect(await store.read('req', 'requests', T0, T0)).toEqual({ used: 1, reserved: 0 });
      expect(await store.read('tok', 'tokens', T0, T0)).toEqual({ used: 321, reserved: 0 });
      const usd = await store.read('usd', 'cost', T0, T0);
      expect(usd.used).toBeCloseTo(0.0123, 12);
      expect(usd.reserved).toBe(0);
      expect(await store.read('con', 'concurrent', T0, T0)).toEqual({ used: 0, reserved: 0 });
    });

    it('settles each call once, however often settle is called', async () => {
      const r = await store.reserve([check({ key: 'tok', metric: 'tokens', amount: 10, max: 1000 })], LEASE);
      if (!r.ok) throw new Error('expected admission');
      await store.settle(r.id, { requests: 1, tokens: 40, cost: 0 });
      await store.settle(r.id, { requests: 1, tokens: 40, cost: 0 });
      await store.release(r.id);
      expect(await store.read('tok', 'tokens', T0, T0)).toEqual({ used: 40, reserved: 0 });
    });

    it('release drops the reservation and charges nothing', async () => {
      const c = check({ key: 'req', max: 1 });
      const r = await store.reserve([c], LEASE);
      if (!r.ok) throw new Error('expected admission');
      expect(await admitted(store, [c])).toBe(false);
      await store.release(r.id);
      expect(await store.read('req', 'requests', T0, T0)).toEqual({ used: 0, reserved: 0 });
      expect(await admitted(store, [c])).toBe(true);
    });

    it('treats settle, release and renew of an unknown id as no-ops', async () => {
      await store.settle('no-such-id', { requests: 1, tokens: 1, cost: 1 });
      await store.release('no-such-id');
      await store.renew('no-such-id', LEASE);
      expect(await store.read('req', 'requests', T0, T0)).toEqual({ used: 0, reserved: 0 });
    });

    it('stops counting a crashed call once its lease expires, so it never blocks falsely', async () => {
      const one = check({ key: 'con', metric: 'concurrent', max: 1 });
      expect(await admitted(store, [one], T0, 1000)).toBe(true); // this call crashes: never settled
      expect(await admitted(store, [one], T0 + 999)).toBe(false);
      expect(await store.read('con', 'concurrent', T0, T0 + 1000)).toEqual({ used: 0, reserved: 0 });
      expect(await admitted(store, [one], T0 + 1000)).toBe(true);
    });

    it('charges a reservation whose lease ran out at the amount reserved; its late settlement adds nothing', async () => {
      const c = check({ key: 'tok', metric: 'tokens', amount: 100, max: 1000, expiresAt: null, bucket: 0 });
      const r = await store.reserve([c], { now: T0, leaseMs: 1000 });
      if (!r.ok) throw new Error('expected admission');
      // Another call runs after the lease ran out: the lost holder is charged, never given back.
      await store.reserve([check({ key: 'other' })], { now: T0 + 5 * MINUTE, leaseMs: 1000 });
      expect(await store.read('tok', 'tokens', 0, T0 + 5 * MINUTE)).toEqual({ used: 100, reserved: 0 });
      await store.settle(r.id, { requests: 1, tokens: 640, cost: 0 });
      expect(await store.read('tok', 'tokens', 0, T0 + 5 * MINUTE)).toEqual({ used: 100, reserved: 0 });
    });

    it('renew keeps a long call counted past its first lease', async () => {
      const one = check({ key: 'con', metric: 'concurrent', max: 1 });
      const r = await store.reserve([one], { now: T0, leaseMs: 1000 });
      if (!r.ok) throw new Error('expected admission');
      await store.renew(r.id, { now: T0 + 900, leaseMs: 1000 });
      expect(await admitted(store, [one], T0 + 1500)).toBe(false);
      expect(await store.read('con', 'concurrent', T0, T0 + 1500)).toEqual({ used: 0, reserved: 1 });
      expect(await admitted(store, [one], T0 + 1900)).toBe(true);
    });

    it('keeps windows apart by bucket', async () => {
      const thisMinute = check({ key: 'req', max: 1 });
      const nextMinute = check({ key: 'req', max: 1, bucket: T0 + MINUTE, expiresAt: T0 + 2 * MINUTE });
      const r = await store.reserve([thisMinute], LEASE);
      if (!r.ok) throw new Error('expected admission');
      await store.settle(r.id, { requests: 1, tokens: 0, cost: 0 });
      expect(await admitted(store, [thisMinute], T0 + 1000)).toBe(false);
      expect(await admitted(store, [nextMinute], T0 + MINUTE)).toBe(true);
      expect(await store.read('req', 'requests', T0 + MINUTE, T0 + MINUTE)).toEqual({ used: 0, reserved: 1 });
    });

    it('forgets a counter once its window has ended', async () => {
      const c = check({ key: 'req', max: 1 });
      const r = await store.reserve([c], LEASE);
      if (!r.ok) throw new Error('expected admission');
      await store.settle(r.id, { requests: 1, tokens: 0, cost: 0 });
      expect(await store.read('req', 'requests', T0, T0 + MINUTE - 1)).toEqual({ used: 1, reserved: 0 });
      expect(await store.read('req', 'requests', T0, T0 + MINUTE)).toEqual({ used: 0, reserved: 0 });
    });

    it('admits exactly 50 of 200 concurrent calls against max=50 requests', async () => {
      const c = check({ key: 'burst', max: 50 });
      const results = await Promise.all(Array.from({ length: 200 }, () => store.reserve([c], LEASE)));
      expect(results.filter((r) => r.ok)).toHaveLength(50);
      expect(await store.read('burst', 'requests', T0, T0)).toEqual({ used: 0, reserved: 50 });
    });

    it('never over-admits a cost cap while calls are in flight, nor after they settle', async () => {
      // Each call reserves $0.30 against a $1.00 cap: 0, 0.3, 0.6, 0.9 are under the cap, 1.2 is not.
      const c = check({ key: 'usd', metric: 'cost', amount: 0.3, max: 1, expiresAt: null, bucket: 0 });
      const results = await Promise.all(Array.from({ length: 20 }, () => store.reserve([c], LEASE)));
      const ids = results.flatMap((r) => (r.ok ? [r.id] : []));
      expect(ids).toHaveLength(4);
      for (const id of ids) await store.settle(id, { requests: 1, tokens: 0, cost: 0.26 });
      const after = await store.read('usd', 'cost', 0, T0);
      expect(after.used).toBeCloseTo(1.04, 10);
      expect(await admitted(store, [c])).toBe(false);
    });

    it('rejects a check whose amount is not a number instead of poisoning the counter', async () => {
      await expect(store.reserve([check({ key: 'x', amount: Number.NaN })], LEASE)).rejects.toThrow(/amount NaN/);
    });

    it('refuses to be used after close', async () => {
      await store.close();
      await expect(store.reserve([check({ key: 'x' })], LEASE)).rejects.toThrow(/closed/);
    });
  });
}

/** The behaviour every Ledger must have (record, ledger(query), flush, close). */
export function ledgerContract(name: string, make: () => Ledger | Promise<Ledger>): void {
  describe(`${name} ledger contract`, () => {
    let store: Ledger;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(async () => {
      await store.close();
    });

    it('returns ledger rows oldest first, filtered by time range and fields, most recent within a limit', async () => {
      store.record(row({ time: T0 + 2, fields: { user: 'bob', org: 'acme' } }));
      store.record(row({ time: T0, fields: { user: 'alice', org: 'acme' } }));
      store.record(row({ time: T0 + 1, fields: { user: 'alice', org: 'initech' }, estimated: true, ruleId: 'r1', action: 'warn' }));
      await store.flush();
      expect((await store.ledger()).map((r) => r.time)).toEqual([T0, T0 + 1, T0 + 2]);
      expect((await store.ledger({ fields: { user: 'alice' } })).map((r) => r.fields.org)).toEqual(['acme', 'initech']);
      expect((await store.ledger({ fields: { user: 'alice', org: 'acme' } })).map((r) => r.time)).toEqual([T0]);
      expect((await store.ledger({ since: T0 + 1, until: T0 + 2 })).map((r) => r.time)).toEqual([T0 + 1]);
      expect((await store.ledger({ limit: 2 })).map((r) => r.time)).toEqual([T0 + 1, T0 + 2]);
      expect((await store.ledger({ since: T0 + 1, until: T0 + 2 }))[0]).toEqual(
        row({ time: T0 + 1, fields: { user: 'alice', org: 'initech' }, estimated: true, ruleId: 'r1', action: 'warn' }),
      );
    });

    it('keeps the ledger row as recorded even if the caller mutates its object afterwards', async () => {
      const r = row();
      store.record(r);
      r.fields.user = 'mallory';
      expect((await store.ledger())[0].fields.user).toBe('alice');
    });

    it('refuses to be used after close', async () => {
      await store.close();
      expect(() => store.record(row())).toThrow(/closed/);
    });
  });
}

/**
 * What a store does with a reservation whose holder is gone (its lease ran out unsettled): charged
 * at what it reserved, with its ledger row flagged, once; never given back. And money is exact.
 */
export function lostHolderContract(name: string, make: () => TokenlayStore | Promise<TokenlayStore>): void {
  describe(`${name} store, lost holders and exact money`, () => {
    let store: TokenlayStore;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(async () => {
      await store.close();
    });

    const checks = [
      check({ key: 'lost', metric: 'requests', max: 10 }),
      check({ key: 'lost', metric: 'tokens', max: 10_000, amount: 4106 }),
      check({ key: 'lost', metric: 'cost', max: 1, amount: 0.0024594 }),
      check({ key: 'lost', metric: 'concurrent', max: 5 }),
    ];
    const lost = row({ fields: { user: 'lena' }, inputTokens: 10, outputTokens: 4096, cost: 0.0024594, status: 502, estimated: true, estimateReason: HOLDER_LOST });

    it('charges a lost holder at every amount it reserved and records its row once, flagged estimated (holder lost)', async () => {
      const r = await store.reserve(checks, { now: T0, leaseMs: 1000, lost });
      if (!r.ok) throw new Error('expected admission');
      const later = T0 + 2000;
      // Noticed by the next call, whichever counters it checks.
      await store.reserve([check({ key: 'someone-else', bucket: later, expiresAt: later + MINUTE })], { now: later, leaseMs: 1000 });
      expect(await store.read('lost', 'requests', T0, later)).toEqual({ used: 1, reserved: 0 });
      expect(await store.read('lost', 'tokens', T0, later)).toEqual({ used: 4106, reserved: 0 });
      expect(await store.read('lost', 'cost', T0, later)).toEqual({ used: 0.0024594, reserved: 0 });
      expect(await store.read('lost', 'concurrent', T0, later)).toEqual({ used: 0, reserved: 0 });
      // Its holder comes back late: the charge and the row stand, once.
      const late = row({ fields: { user: 'lena' }, cost: 0.0000045 });
      if (store.settleWithRow) await store.settleWithRow(r.id, { requests: 1, tokens: 15, cost: 0.0000045 }, late);
      else await store.settle(r.id, { requests: 1, tokens: 15, cost: 0.0000045 });
      await store.reserve([check({ key: 'someone-else', bucket: later, expiresAt: later + MINUTE })], { now: later + 5000, leaseMs: 1000 });
      expect(await store.read('lost', 'cost', T0, later)).toEqual({ used: 0.0024594, reserved: 0 });
      const rows = await store.ledger({ fields: { user: 'lena' } });
      expect(rows).toEqual([lost]);
    });

    it('settleWithRow with the clock gives back every counter the reservation held, as read() would just after; nothing for a call charged as lost', async () => {
      if (!store.settleWithRow) return expect(store.settleWithRow).toBeUndefined();
      // Another caller's live reservation on the same counters: it shows as reserved in the readings.
      const other = await store.reserve(checks, { now: T0, leaseMs: 30_000 });
      const r = await store.reserve(checks, { now: T0, leaseMs: 30_000, lost });
      if (!r.ok || !other.ok) throw new Error('expected admission');
      const readings = await store.settleWithRow(r.id, { requests: 1, tokens: 15, cost: 0.0000045 }, row({ fields: { user: 'lena' } }), T0 + 10);
      expect(readings).toBeDefined();
      const byMetric = Object.fromEntries((readings ?? []).map((c) => [c.metric, c]));
      expect(Object.keys(byMetric).sort()).toEqual(['concurrent', 'cost', 'requests', 'tokens']);
      for (const c of readings ?? []) {
        expect(c.key).toBe('lost');
        expect(c.bucket).toBe(T0);
        expect({ used: c.used, reserved: c.reserved }).toEqual(await store.read(c.key, c.metric, c.bucket, T0 + 10));
      }
      expect(byMetric.cost).toMatchObject({ used: 0.0000045, reserved: 0.0024594 });
      expect(byMetric.requests).toMatchObject({ used: 1, reserved: 1 });
      // A holder charged as lost comes back: nothing settled, nothing read.
      const gone = await store.reserve(checks, { now: T0, leaseMs: 1000, lost });
      if (!gone.ok) throw new Error('expected admission');
      await store.read('lost', 'requests', T0, T0 + 2000);
      expect(await store.settleWithRow(gone.id, { requests: 1, tokens: 15, cost: 0.0000045 }, row({ fields: { user: 'lena' } }), T0 + 2000)).toBeUndefined();
    });

    it("settleWithRow's counters equal read() when another holder's lease ran out, the window ended, or the call holds one counter twice", async () => {
      if (!store.settleWithRow) return expect(store.settleWithRow).toBeUndefined();
      const at = T0 + 5000;
      const shared = check({ key: 'edge', metric: 'cost', max: 1, amount: 0.0002 });
      // A holder whose lease runs out before the call below settles, on the same counter.
      const dead = await store.reserve([shared], { now: T0, leaseMs: 1000, lost: row({ fields: { user: 'dead' }, cost: 0.0002 }) });
      // A window that ends while the call is in flight: its counter reads as empty afterwards.
      const ended = check({ key: 'edge-ended', metric: 'requests', max: 10, bucket: T0, expiresAt: T0 + 1000 });
      const twice = check({ key: 'edge-twice', metric: 'tokens', max: 10_000, amount: 100 });
      const r = await store.reserve([shared, ended, twice, twice], { now: T0, leaseMs: 30_000 });
      if (!dead.ok || !r.ok) throw new Error('expected admission');
      const readings = await store.settleWithRow(r.id, { requests: 1, tokens: 15, cost: 0.0000045 }, row({ fields: { user: 'edge' } }), at);
      expect(readings?.length).toBe(4);
      for (const c of readings ?? []) expect({ key: c.key, used: c.used, reserved: c.reserved }).toEqual({ key: c.key, ...(await store.read(c.key, c.metric, c.bucket, at)) });
      const byKey = Object.fromEntries((readings ?? []).map((c) => [c.key, c]));
      expect(byKey.edge).toMatchObject({ used: 0.0002045, reserved: 0 });
      expect(byKey['edge-ended']).toMatchObject({ used: 0, reserved: 0 });
      expect(byKey['edge-twice']).toMatchObject({ used: 30, reserved: 0 });
    });

    it('charges a lost holder noticed by a read alone', async () => {
      const r = await store.reserve(checks, { now: T0, leaseMs: 1000, lost });
      if (!r.ok) throw new Error('expected admission');
      expect(await store.read('lost', 'requests', T0, T0 + 1000)).toEqual({ used: 1, reserved: 0 });
      expect(await store.ledger({ fields: { user: 'lena' } })).toEqual([lost]);
    });

    it('gives back nothing of a renewed lease and charges nothing early', async () => {
      const r = await store.reserve(checks, { now: T0, leaseMs: 1000, lost });
      if (!r.ok) throw new Error('expected admission');
      await store.renew(r.id, { now: T0 + 900, leaseMs: 1000 });
      expect(await store.read('lost', 'requests', T0, T0 + 1500)).toEqual({ used: 0, reserved: 1 });
      await store.settle(r.id, { requests: 1, tokens: 15, cost: 0.0000045 });
      expect(await store.read('lost', 'cost', T0, T0 + 5000)).toEqual({ used: 0.0000045, reserved: 0 });
      expect(await store.ledger({ fields: { user: 'lena' } })).toEqual([]);
    });

    it('keeps money exact: 3 × $0.000315 is $0.000945 in counters and in the ledger (not 0.0009450000000000001)', async () => {
      const cost = check({ key: 'exact', metric: 'cost', max: 1, amount: 0.001 });
      for (let i = 0; i < 3; i++) {
        const r = await store.reserve([cost], LEASE);
        if (!r.ok) throw new Error('expected admission');
        await store.settle(r.id, { requests: 1, tokens: 0, cost: 0.000315 });
        // What float metering gives: 0.0009450000000000001.
        store.record(row({ fields: { user: 'exact' }, cost: 0.000315 + 0.000315 + 0.000315 }));
      }
      expect(await store.read('exact', 'cost', T0, T0)).toEqual({ used: 0.000945, reserved: 0 });
      const rows = await store.ledger({ fields: { user: 'exact' } });
      expect(rows.map((r) => String(r.cost))).toEqual(['0.000945', '0.000945', '0.000945']);
      // A cost far below a cent keeps its last digit: 1e-10 USD is the unit.
      const tiny = await store.reserve([check({ key: 'tiny', metric: 'cost', max: 1, amount: 1e-10 })], LEASE);
      if (!tiny.ok) throw new Error('expected admission');
      await store.settle(tiny.id, { requests: 1, tokens: 0, cost: 3e-10 });
      expect(await store.read('tiny', 'cost', T0, T0)).toEqual({ used: 3e-10, reserved: 0 });
    });
  });
}
