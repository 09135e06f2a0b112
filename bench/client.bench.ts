/**
 * The client: plain `OpenAI` vs `TokenlayOpenAI` (remote mode, each call in a request scope),
 * plain and streamed, against the same provider stand-in. The stand-in and each client variant
 * run in their own processes; variants alternate within each round; a warm-up is discarded. CPU
 * per call is the client process's own `process.cpuUsage()`, so the stand-in's work is not in it.
 *
 *   npm run bench -- --only client [--rounds 5] [--duration 1.5]
 *
 * With BENCH_CLIENT_BEFORE=<a dist/ directory> (another build of the package, e.g. of the commit
 * before a change), every `TokenlayOpenAI` variant also runs from that build in the same rounds.
 * Embedded-mode variants (the engine in-process, no rules, memory store) are measured beside them.
 */
import { fileURLToPath } from 'node:url';
import { startChild, type Measured } from './lib/child.js';
import { median, settings, spread } from './lib/stats.js';

const { rounds: ROUNDS, durationS: DURATION_S } = settings({ rounds: 5, durationS: 1.5 });
const WARMUP_MS = 1000;
const CONCURRENCY = 16;
const file = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const BEFORE = process.env.BENCH_CLIENT_BEFORE;
const PAIRS = [
  { title: 'JSON answers', plain: 'plain', als: 'als', ours: 'tokenlay', more: ['tokenlay-embedded'] },
  { title: 'streamed answers (SSE)', plain: 'plain-stream', als: 'als-stream', ours: 'tokenlay-stream', more: ['tokenlay-embedded-stream'] },
];
const LABELS: Record<string, string> = {
  plain: '`OpenAI` (baseline)',
  als: '`OpenAI` in a bare `als.run` scope',
  tokenlay: '`TokenlayOpenAI`, remote mode, in a scope',
  'tokenlay-embedded': '`TokenlayOpenAI`, embedded (no rules, memory store), in a scope',
  'plain-stream': '`OpenAI`, `stream: true` (baseline)',
  'als-stream': '`OpenAI`, `stream: true`, in a bare `als.run` scope',
  'tokenlay-stream': '`TokenlayOpenAI`, `stream: true`, in a scope',
  'tokenlay-embedded-stream': '`TokenlayOpenAI`, embedded, `stream: true`, in a scope',
};
if (BEFORE) {
  for (const pair of PAIRS) pair.more = [...pair.more, ...[pair.ours, ...pair.more].map((v) => `before-${v}`)];
  for (const v of Object.keys(LABELS)) if (v.startsWith('tokenlay')) LABELS[`before-${v}`] = `before: ${LABELS[v]}`;
}

interface Sample {
  perSec: number;
  cpuUs: number;
}

async function sample(worker: Measured, durationMs: number): Promise<Sample> {
  const r = await worker.ask<{ calls: number; cpuUs: number; ms: number }>({ type: 'run', durationMs, concurrency: CONCURRENCY });
  return { perSec: (r.calls * 1000) / r.ms, cpuUs: r.cpuUs / r.calls };
}

async function main(): Promise<void> {
  const provider = await startChild(file('./client/provider.ts'), []);
  const workers = new Map<string, Measured>();
  try {
    for (const v of Object.keys(LABELS)) workers.set(v, await startChild(file('./client/worker.ts'), [v, provider.url, BEFORE ?? '']));
    for (const w of workers.values()) await sample(w, WARMUP_MS);
    const samples = new Map<string, Sample[]>([...workers.keys()].map((v) => [v, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [v, w] of workers) {
        await provider.ask({ type: 'reset' });
        const s = await sample(w, DURATION_S * 1000);
        samples.get(v)!.push(s);
        console.error(`client round ${r + 1}/${ROUNDS} ${v}: ${Math.round(s.perSec)} calls/s, ${s.cpuUs.toFixed(1)} µs CPU/call`);
      }
    }
    const lines = [
      `${ROUNDS} rounds × ${DURATION_S} s per variant after a ${WARMUP_MS} ms warm-up; ${CONCURRENCY} calls in flight; provider stand-in in its own process on 127.0.0.1. Targets: ≥ 0.97 of plain OpenAI's throughput, ≤ 5 µs client CPU added per call.`,
      '',
      '| client | calls/s, median (min–max) | ratio to OpenAI, same round | client CPU µs/call | added CPU µs/call |',
      '| --- | ---: | ---: | ---: | ---: |',
    ];
    const verdicts: string[] = [];
    for (const pair of PAIRS) {
      const base = samples.get(pair.plain)!;
      lines.push(`| ${LABELS[pair.plain]} | ${spread(base.map((s) => s.perSec), 0)} | 1 | ${spread(base.map((s) => s.cpuUs), 1)} | — |`);
      const row = (variant: string) => {
        const ours = samples.get(variant)!;
        const ratios = ours.map((s, r) => s.perSec / base[r].perSec);
        const added = ours.map((s, r) => s.cpuUs - base[r].cpuUs);
        lines.push(`| ${LABELS[variant]} | ${spread(ours.map((s) => s.perSec), 0)} | ${spread(ratios, 3)} | ${spread(ours.map((s) => s.cpuUs), 1)} | ${spread(added, 1)} |`);
        return { ratio: median(ratios), cpu: median(added) };
      };
      const scoped = row(pair.als);
      const ours = row(pair.ours);
      const overScopeOf = (v: string) => median(samples.get(v)!.map((s, r) => s.cpuUs - samples.get(pair.als)![r].cpuUs));
      const overScope = overScopeOf(pair.ours);
      for (const v of pair.more) row(v);
      const others = pair.more.map((v) => `${v} +${overScopeOf(v).toFixed(1)} µs`).join(', ');
      verdicts.push(
        `${pair.title}: throughput ${ours.ratio.toFixed(3)} (${ours.ratio >= 0.97 ? 'met' : 'not met'}), +${ours.cpu.toFixed(1)} µs CPU/call (${ours.cpu <= 5 ? 'met' : 'not met'}); ` +
          `of which a bare ALS scope costs ${scoped.ratio.toFixed(3)} / +${scoped.cpu.toFixed(1)} µs and tokenlay over that scope +${overScope.toFixed(1)} µs` +
          (others ? ` (over the same scope: ${others})` : ''),
      );
    }
    lines.push('', `Medians: ${verdicts.join('; ')}.`);
    console.log(lines.join('\n'));
  } finally {
    await Promise.all([...workers.values(), provider].map((c) => c.close()));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
