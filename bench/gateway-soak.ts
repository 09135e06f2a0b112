/**
 * Soak: 10,000 calls through the gateway (mixed streamed and plain, 100 users, 20 in flight) with
 * rules and the SQLite store on; prints RSS and heap before, after, and after a forced GC. The
 * gateway, the provider stand-in and the load run in this one process, so that GC can be forced;
 * memory is flat when "after GC" comes back near "before".
 *
 *   node --expose-gc --import tsx bench/gateway-soak.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createGateway, createLogger } from '../src/gateway/index.js';
import { startProvider } from '../test/support/provider.js';

const CALLS = Number(process.env.SOAK_CALLS ?? 10_000);
const USERS = 100;
const IN_FLIGHT = 20;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
function memory(label: string): { rss: number; heap: number } {
  const m = process.memoryUsage();
  console.log(`${label.padEnd(28)} rss ${mb(m.rss)} MiB, heap used ${mb(m.heapUsed)} MiB`);
  return { rss: m.rss, heap: m.heapUsed };
}

const dir = mkdtempSync(join(tmpdir(), 'tokenlay-soak-'));
const provider = await startProvider();
let logBytes = 0;
const sink = new Writable({ write: (c, _e, done) => ((logBytes += c.length), done()) });
const gateway = createGateway({
  rules: { rules: [{ id: 'cap', if: {}, then: { limits: [{ type: 'requests', max: 1e9, window: 'day', per: 'user' }, { type: 'tokens', max: 1e12, window: 'month', per: 'user' }] } }] },
  store: `sqlite:${join(dir, 'usage.db')}`,
  keys: join(dir, 'usage.db'),
  allowProviderBases: [provider.base],
  logger: createLogger({ destination: sink }),
});
const { url } = await gateway.listen(0);
const key = gateway.keys.create('soak');
const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

function call(i: number): Promise<number> {
  const stream = i % 2 === 0;
  const body = JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: `Question ${i}` }] });
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/chat/completions`, {
      method: 'POST',
      agent,
      headers: { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': 'sk-soak', 'x-tokenlay-provider-base': provider.base, 'x-tokenlay-user': `user-${i % USERS}`, 'content-type': 'application/json' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function run(from: number, count: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = from;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < from + count) {
      const s = await call(next++);
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
      // The stand-in keeps every request it saw; that is the test double's memory, not the gateway's.
      if (provider.requests.length > 100) provider.requests.length = 0;
    }
  }));
  return statuses;
}

// Warm up (JIT, pools, prepared statements) so that "before" is the steady state.
await run(0, 500);
gc();
const before = memory('before (after 500 warm-up)');
const started = performance.now();
const statuses = await run(500, CALLS);
const seconds = (performance.now() - started) / 1000;
const after = memory(`after ${CALLS} calls`);
provider.reset();
gc();
await new Promise((r) => setTimeout(r, 200));
gc();
const settled = memory('after GC');
await gateway.engine.flush();
const rows = (await gateway.store.ledger()).length;
console.log(`\n${CALLS} calls in ${seconds.toFixed(1)} s (${(CALLS / seconds).toFixed(0)}/s); statuses ${JSON.stringify(Object.fromEntries(statuses))}; ledger rows ${rows} (with warm-up); log ${mb(logBytes)} MiB`);
console.log(`RSS growth after GC: ${mb(settled.rss - before.rss)} MiB; heap growth after GC: ${mb(settled.heap - before.heap)} MiB (during: +${mb(after.rss - before.rss)} MiB RSS)`);
agent.destroy();
await gateway.close();
await provider.close();
rmSync(dir, { recursive: true, force: true });
