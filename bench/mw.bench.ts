/**
 * Request-context middleware side by side: for Express 5, Fastify 5, Koa 3 and Hono, no
 * middleware, bare `als.run(store, next)`, `tokenlay()` and the peers, each app in its own
 * process, loaded by autocannon (50 connections) from this one. Variants alternate within each
 * round (A B C … A B C …); a warm-up per variant is discarded; ratios are to the baseline of the
 * same round; server CPU µs per request comes from the server's own `process.cpuUsage()`.
 *
 *   npm run bench -- --only mw [--rounds 5] [--duration 1.5]
 */
import { fileURLToPath } from 'node:url';
import { startChild, type Measured } from './lib/child.js';
import { drive, type Sample } from './lib/load.js';
import { median, settings, spread } from './lib/stats.js';
import { FRAMEWORKS, LABELS, USER, VARIANTS, type Framework } from './mw/apps.js';

const { rounds: ROUNDS, durationS: DURATION_S } = settings({ rounds: 5, durationS: 1.5 });
const WARMUP_S = 1;
const CONNECTIONS = 50;
const server = fileURLToPath(new URL('./mw/server.ts', import.meta.url));
const headers = { 'x-user': USER };
const TITLES: Record<Framework, string> = { express: 'Express 5', fastify: 'Fastify 5', koa: 'Koa 3', hono: 'Hono 4 (@hono/node-server)' };
/** The issue's targets: tokenlay() at least this ratio to no middleware, and within 0.01 of bare ALS. */
const TARGET: Record<Framework, number | undefined> = { express: 0.95, fastify: 0.9, koa: 0.9, hono: undefined };

async function check(target: Measured, variant: string): Promise<void> {
  const res = await fetch(target.url, { headers });
  const text = await res.text();
  if (res.status !== 200 || text !== USER) throw new Error(`${variant}: expected 200 "${USER}" from ${target.url}, got ${res.status} "${text.slice(0, 100)}"`);
}

async function bench(framework: Framework): Promise<string> {
  const variants = VARIANTS[framework];
  const servers = new Map<string, Measured>();
  try {
    for (const v of variants) servers.set(v, await startChild(server, [framework, v]));
    for (const v of variants) await check(servers.get(v)!, v);
    for (const v of variants) await drive(servers.get(v)!, { connections: CONNECTIONS, durationS: WARMUP_S, headers });
    const samples = new Map<string, Sample[]>(variants.map((v) => [v, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of variants) {
        const s = await drive(servers.get(v)!, { connections: CONNECTIONS, durationS: DURATION_S, headers });
        samples.get(v)!.push(s);
        console.error(`${framework} round ${r + 1}/${ROUNDS} ${v}: ${Math.round(s.rps)} req/s, ${s.cpuUs.toFixed(1)} µs CPU/req`);
      }
    }
    return table(framework, samples);
  } finally {
    await Promise.all([...servers.values()].map((s) => s.close()));
  }
}

function table(framework: Framework, samples: Map<string, Sample[]>): string {
  const base = samples.get('none')!;
  const ratios = (v: string) => samples.get(v)!.map((s, r) => s.rps / base[r].rps);
  const addedCpu = (v: string) => samples.get(v)!.map((s, r) => s.cpuUs - base[r].cpuUs);
  const lines = [
    `### ${TITLES[framework]}`,
    '',
    '| variant | req/s, median (min–max) | ratio to no middleware, same round | server CPU µs/req | added CPU µs/req |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const [v, list] of samples) {
    const added = v === 'none' ? '—' : spread(addedCpu(v), 1);
    const ratio = v === 'none' ? '1' : spread(ratios(v), 3);
    lines.push(`| ${LABELS[v]} | ${spread(list.map((s) => s.rps), 0)} | ${ratio} | ${spread(list.map((s) => s.cpuUs), 1)} | ${added} |`);
  }
  const ours = median(ratios('tokenlay'));
  const bare = median(ratios('als'));
  const peers = [...samples.keys()].filter((v) => !['none', 'als', 'tokenlay'].includes(v));
  const bestPeer = peers.map((v) => [v, median(ratios(v))] as const).sort((a, b) => b[1] - a[1])[0];
  const target = TARGET[framework];
  const verdict = [
    `\`tokenlay()\` ${ours.toFixed(3)} vs bare ALS ${bare.toFixed(3)}: ${ours >= bare - 0.01 ? 'within 0.01 — met' : `${(bare - ours).toFixed(3)} behind — not met`}`,
    bestPeer ? `best peer ${LABELS[bestPeer[0]]} ${bestPeer[1].toFixed(3)}: ${ours >= bestPeer[1] ? 'ahead — met' : 'behind — not met'}` : undefined,
    target !== undefined ? `target ≥ ${target}: ${ours >= target ? 'met' : 'not met'}` : undefined,
  ].filter(Boolean);
  lines.push('', `Medians of ratios: ${verdict.join('; ')}.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const only = process.env.BENCH_FRAMEWORKS?.split(',') as Framework[] | undefined;
  const out = [
    `${ROUNDS} rounds × ${DURATION_S} s per variant after a ${WARMUP_S} s warm-up; autocannon, ${CONNECTIONS} connections, \`GET /\` answering the user read from the request context.`,
  ];
  for (const f of only ?? FRAMEWORKS) out.push('', await bench(f));
  console.log(out.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
