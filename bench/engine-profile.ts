/**
 * The engine alone (a provider answering in-process) for a CPU profile:
 *   STORE=memory CALLS=20000 node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/engine-profile.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/engine/index.js';
import { benchRules, callHeaders, chatBody, inProcess } from './lib/engine-calls.js';

const CALLS = Number(process.env.CALLS ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'tokenlay-prof-'));
const store = process.env.STORE === 'sqlite' ? `sqlite:${join(dir, 'p.db')}` : 'memory';
const engine = createEngine({ rules: benchRules, store, fetch: inProcess });
const cpu = process.cpuUsage();
const t = performance.now();
for (let i = 0; i < CALLS; i++) {
  const res = await engine.handle({ url: 'http://127.0.0.1:9/v1/chat/completions', method: 'POST', headers: new Headers(callHeaders(i)), body: chatBody });
  await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
}
const used = process.cpuUsage(cpu);
console.log(`${store.split(':')[0]}: ${(((performance.now() - t) * 1000) / CALLS).toFixed(1)} µs wall, ${((used.user + used.system) / CALLS).toFixed(1)} µs CPU per call`);
await engine.close();
rmSync(dir, { recursive: true, force: true });
