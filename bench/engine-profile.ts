/**
 * The engine alone (a provider answering in-process) for a CPU profile:
 *   STORE=memory CALLS=20000 node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/engine-profile.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/engine/index.js';

const CALLS = Number(process.env.CALLS ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'tokenlay-prof-'));
const store = process.env.STORE === 'sqlite' ? `sqlite:${join(dir, 'p.db')}` : 'memory';
const rules = {
  rules: [
    { id: 'free', if: { plan: 'free' }, then: { model: 'gpt-4o-mini', limits: [{ type: 'requests', max: 1e9, window: 'day', per: 'user' }, { type: 'cost', max: 1e9, window: 'month', per: 'user' }] } },
    { id: 'pro', if: { plan: 'pro' }, then: { limits: [{ type: 'tokens', max: 1e12, window: 'month', per: ['org', 'user'] }, { type: 'concurrent', max: 1000, per: 'user' }] } },
  ],
};
const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Summarise the quarterly report in three bullet points.' }] });
const canned = JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } });
const engine = createEngine({ rules, store, fetch: async () => new Response(canned, { headers: { 'content-type': 'application/json' } }) });
const headers = (i: number) => ({ 'content-type': 'application/json', authorization: 'Bearer sk-bench', 'x-tokenlay-user': `user-${i % 50}`, 'x-tokenlay-org': 'acme', 'x-tokenlay-plan': 'free' });
const cpu = process.cpuUsage();
const t = performance.now();
for (let i = 0; i < CALLS; i++) {
  const res = await engine.handle({ url: 'http://127.0.0.1:9/v1/chat/completions', method: 'POST', headers: new Headers(headers(i)), body });
  await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
}
const used = process.cpuUsage(cpu);
console.log(`${store.split(':')[0]}: ${(((performance.now() - t) * 1000) / CALLS).toFixed(1)} µs wall, ${((used.user + used.system) / CALLS).toFixed(1)} µs CPU per call`);
await engine.close();
rmSync(dir, { recursive: true, force: true });
