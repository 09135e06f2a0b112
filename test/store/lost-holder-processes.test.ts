import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { combineStores, createMemoryStore, createRedisStore, createSqliteStore } from '../../src/store/index.js';
import type { TokenlayStore } from '../../src/store/types.js';
import { REDIS_URL, useRedisPrefixes } from './services.js';
import { useTempDirs } from './temp-dir.js';

// A process holding reservations is killed with -9; several instances sharing its store notice
// at once. Its reservations are charged exactly once, each with one flagged ledger row.
const fixture = join(import.meta.dirname, 'fixtures', 'hold-and-die.ts');
const tempDir = useTempDirs();
const prefixes = useRedisPrefixes();
const HELD = 5;
const LEASE_MS = 300;

async function holdAndDie(args: string[]): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args, String(HELD), String(LEASE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (text: string) => text.includes('held') && resolve());
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before holding`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

/** Three instances notice at once (a read each); returns the lost rows they recorded, and the counters after. */
async function noticeTogether(instances: TokenlayStore[], ledgers: TokenlayStore[]) {
  // The stores' clock is the `now` they are given: read just after the dead holder's leases ran out.
  const now = Date.now() + LEASE_MS + 1;
  await Promise.all(instances.map((s) => s.read('team', 'requests', 0, now)));
  const rows = (await Promise.all(ledgers.map((l) => l.ledger()))).flat();
  const requests = await instances[0]!.read('team', 'requests', 0, now);
  const cost = await instances[0]!.read('team', 'cost', 0, now);
  return { rows, requests, cost };
}

/** Every held reservation charged once, at what it reserved, with one row flagged 'holder lost'. */
function expectChargedOnce({ rows, requests, cost }: Awaited<ReturnType<typeof noticeTogether>>): void {
  expect(rows.map((r) => r.fields.user).sort()).toEqual(Array.from({ length: HELD }, (_, i) => `held-${i}`));
  expect(rows.every((r) => r.estimated && r.estimateReason === 'holder lost' && r.status === 502 && r.cost === 0.0024594)).toBe(true);
  expect(requests).toEqual({ used: HELD, reserved: 0 });
  expect(cost).toEqual({ used: 0.012297, reserved: 0 });
}

describe('reservations of a process killed with -9, on a store shared by several processes', () => {
  it('SQLite: charged once at what they reserved, with one row each flagged holder lost', async () => {
    const path = join(tempDir(), 'shared.db');
    await holdAndDie(['sqlite', path, '']);
    const instances = [0, 1, 2].map(() => createSqliteStore({ path }));
    try {
      expectChargedOnce(await noticeTogether(instances, [instances[0]!]));
    } finally {
      await Promise.all(instances.map((s) => s.close()));
    }
  }, 30_000);

  it('Redis: charged once at what they reserved, the row recorded by the one instance that charged it', async () => {
    const prefix = prefixes();
    await holdAndDie(['redis', REDIS_URL, prefix]);
    const ledgers = [0, 1, 2].map(() => createMemoryStore());
    const instances = ledgers.map((ledger) => combineStores(createRedisStore({ url: REDIS_URL, prefix }), ledger));
    try {
      expectChargedOnce(await noticeTogether(instances, ledgers));
    } finally {
      await Promise.all(instances.map((s) => s.close()));
    }
  }, 30_000);
});
