/**
 * The engine alone (an in-process provider) of the working tree against git refs, alternated in
 * one process: each round runs every engine for a block of calls, in a fresh random order, and
 * the figure per engine is the median and the tenth percentile of CPU µs per call over the rounds
 * (user + system, `process.cpuUsage`). On a machine others load, the low percentile is the steadiest.
 *
 *   AB_REFS=cdc42cb,1bac1c7 AB_ROUNDS=40 AB_BLOCK=200 npx tsx bench/engine-ab.ts
 *
 * AB_BUILT=1 runs each engine as the package ships it (bundled like the ESM build) instead of
 * its TypeScript sources through tsx. AB_VARIANTS=no-clamp-no-integer-money,no-budget-header,…
 * adds the working tree with one feature taken out (bench/lib/engine-variants.ts), built the same
 * way, to show what that feature costs per call:
 *
 *   AB_BUILT=1 AB_REFS=1bac1c7 AB_VARIANTS=no-clamp-no-integer-money AB_ROUNDS=80 npx tsx bench/engine-ab.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type Engine } from '../src/engine/index.js';
import { benchRules, builtEngineAt, callHeaders, chatBody, engineAt, inProcess } from './lib/engine-calls.js';

const REFS = (process.env.AB_REFS ?? 'HEAD').split(',').filter(Boolean);
const ROUNDS = Number(process.env.AB_ROUNDS ?? 40);
const BLOCK = Number(process.env.AB_BLOCK ?? 200);
const STORES = (process.env.AB_STORES ?? 'memory,sqlite').split(',');
const BUILT = process.env.AB_BUILT === '1';

const rules = benchRules;
const body = chatBody;
const headers = callHeaders;

const dir = mkdtempSync(join(tmpdir(), 'tokenlay-ab-'));
const makers: Array<[string, typeof createEngine]> = [['working tree', BUILT ? await builtEngineAt(undefined) : createEngine]];
for (const ref of REFS) makers.push([ref, BUILT ? await builtEngineAt(ref) : await engineAt(ref)]);
const VARIANTS = (process.env.AB_VARIANTS ?? '').split(',').filter(Boolean);
// A variant is built; beside sources run through tsx it would measure the build, not the feature.
if (VARIANTS.length > 0 && !BUILT) throw new Error('bench: AB_VARIANTS needs AB_BUILT=1 (variants are bundled like the package)');
for (const variant of VARIANTS) makers.push([`tree, ${variant}`, await builtEngineAt(undefined, variant)]);
const engines: Array<{ name: string; engine: Engine; cpu: number[]; wall: number[] }> = [];
for (const store of STORES) {
  for (const [name, make] of makers) {
    engines.push({ name: `${name}, ${store}`, engine: make({ rules, store: store === 'memory' ? 'memory' : `sqlite:${join(dir, `${engines.length}.db`)}`, fetch: inProcess }), cpu: [], wall: [] });
  }
}
let n = 0;
async function block(e: Engine, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const res = await e.handle({ url: 'http://127.0.0.1:9/v1/chat/completions', method: 'POST', headers: new Headers(headers(n++)), body });
    await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  }
}
for (const e of engines) await block(e.engine, 300);
const load = [loadavg()[0]!];
for (let round = 0; round < ROUNDS; round++) {
  for (const e of [...engines].sort(() => Math.random() - 0.5)) {
    const cpu = process.cpuUsage();
    const t = performance.now();
    await block(e.engine, BLOCK);
    const used = process.cpuUsage(cpu);
    e.cpu.push((used.user + used.system) / BLOCK);
    e.wall.push(((performance.now() - t) * 1000) / BLOCK);
  }
}
load.push(loadavg()[0]!);
const at = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;
console.log(`\n${new Date().toISOString()}, node ${process.version}, load average ${load.map((l) => l.toFixed(1)).join(' → ')}, ${ROUNDS} rounds of ${BLOCK} calls per engine, ${BUILT ? 'built as the ESM package' : 'sources through tsx'}\n`);
console.log('| engine alone | CPU µs/call, median | CPU µs/call, p10 of rounds | wall µs/call, median | wall µs/call, p10 of rounds |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const e of engines) console.log(`| ${e.name} | ${at(e.cpu, 0.5).toFixed(0)} | ${at(e.cpu, 0.1).toFixed(0)} | ${at(e.wall, 0.5).toFixed(0)} | ${at(e.wall, 0.1).toFixed(0)} |`);
for (const e of engines) await e.engine.close();
rmSync(dir, { recursive: true, force: true });
