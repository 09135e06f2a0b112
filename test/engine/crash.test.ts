import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/index.js';
import { startProvider } from '../support/provider.js';
import { onCleanup, tempDir } from './support.js';

const fixture = join(import.meta.dirname, 'fixtures', 'load.ts');
const TOTAL = 500;
const CONCURRENCY = 8;

/** Runs the load in a child process, sends `signal` once `after` calls were answered, and waits for it to exit. */
async function loadAndSignal(mode: string, signal: NodeJS.Signals, after: number, leaseMs?: number) {
  const provider = await startProvider({ behavior: () => ({ kind: 'delay', ms: 5 }) });
  onCleanup(() => provider.close());
  const db = join(tempDir(), 'usage.db');
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, db, provider.base, mode, String(TOTAL), String(CONCURRENCY), ...(leaseMs ? [String(leaseMs)] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  onCleanup(() => void child.kill('SIGKILL'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, sig) => resolve({ code, signal: sig })));
  let sent = false;
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    const answered = Math.max(0, ...[...text.matchAll(/progress (\d+)/g)].map((m) => Number(m[1])));
    if (!sent && answered >= after) {
      sent = true;
      child.kill(signal);
    }
  });
  const exit = await exited;
  const calls = provider.requests.filter((r) => r.path === '/v1/chat/completions').length;
  // Once the dead process's leases ran out, its reservations are charged by the next reader: the
  // store's clock is the `now` it is given, so the reader reads just after the last lease ran out.
  const readAt = Date.now() + (leaseMs ? leaseMs + 1 : 0);
  // Restart: a new store on the same file.
  const store = createSqliteStore({ path: db });
  try {
    const day = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    let counted = 0;
    for (let u = 0; u < 7; u++) counted += (await store.read(`all|requests|day|user=user-${u}`, 'requests', day, readAt)).used;
    const rows = await store.ledger();
    return { exit, calls, rows: rows.length, counted, lost: rows.filter((r) => r.estimateReason === 'holder lost').length };
  } finally {
    await store.close();
  }
}

describe('counters and ledger after the process ends mid-load', () => {
  it('agree exactly after SIGKILL during 500 calls; at most the calls in flight are lost', async () => {
    const { exit, calls, rows, counted } = await loadAndSignal('kill', 'SIGKILL', 200);
    expect(exit.signal).toBe('SIGKILL');
    expect(counted).toBe(rows);
    expect(rows).toBeGreaterThanOrEqual(200);
    expect(calls).toBeLessThan(TOTAL);
    // Answered by the provider but not settled: only those in flight when the process died.
    expect(calls - rows).toBeLessThanOrEqual(CONCURRENCY);
  }, 60_000);

  it('lose nothing after SIGKILL once the leases ran out: the calls in flight are charged what they reserved, with flagged rows', async () => {
    const { exit, calls, rows, counted, lost } = await loadAndSignal('kill', 'SIGKILL', 200, 1000);
    expect(exit.signal).toBe('SIGKILL');
    expect(counted).toBe(rows);
    // Every call the provider answered is in the ledger; at most the calls in flight were charged
    // without reaching it (admitted, not yet sent when the process died).
    expect(rows).toBeGreaterThanOrEqual(calls);
    expect(rows - calls).toBeLessThanOrEqual(CONCURRENCY);
    expect(lost).toBeGreaterThanOrEqual(1);
    expect(lost).toBeLessThanOrEqual(CONCURRENCY);
  }, 60_000);

  it('lose nothing on SIGTERM when the app handler awaits close(): every provider call is in both', async () => {
    const { exit, calls, rows, counted } = await loadAndSignal('handler', 'SIGTERM', 200);
    expect(exit.code).toBe(0);
    expect(rows).toBe(calls);
    expect(counted).toBe(calls);
    expect(calls).toBeLessThan(TOTAL);
  }, 60_000);

  it('lose nothing on SIGTERM with closeOnExit: true and no handler of the app', async () => {
    const { exit, calls, rows, counted } = await loadAndSignal('closeOnExit', 'SIGTERM', 200);
    // The process still ends as SIGTERM ends it.
    expect(exit.signal).toBe('SIGTERM');
    expect(rows).toBe(calls);
    expect(counted).toBe(calls);
    expect(calls).toBeLessThan(TOTAL);
  }, 60_000);
});
