/**
 * What tokenlay adds to the hot paths, each beside its baseline in the same run:
 *  - an LLM call: `TokenlayOpenAI` in a request scope vs the plain `OpenAI` client, both against
 *    the local provider stand-in (the difference is scope resolution, header encoding, metadata);
 *  - an incoming request: Express with `app.use(tokenlay())` vs without, no LLM call.
 *
 *   npx tsx bench/core.bench.ts
 *
 * Loops are bounded in count; every target is 127.0.0.1.
 */
import OpenAI from 'openai';
import express from 'express';
import { cpus } from 'node:os';
import { TokenlayOpenAI, runWithTokenlay } from '../src/index.js';
import { tokenlay } from '../adapters/express.js';
import { startProvider } from '../test/support/provider.js';
import { listen } from '../test/support/http.js';

const ROUNDS = 3;
const CALLS = 1500;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function measure(fn: () => Promise<unknown>, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return times.sort((a, b) => a - b);
}

async function main() {
  const provider = await startProvider();
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
  const plain = new OpenAI({ apiKey: 'sk', baseURL: provider.base, maxRetries: 0 });
  const wrapped = new TokenlayOpenAI({ providerApiKey: 'sk', tokenlayKey: 'tl', tokenlayBaseUrl: provider.url, maxRetries: 0 });
  const fields = { user: 'user-1234', org: 'acme', plan: 'pro', feature: 'chat' };

  const bare = express();
  bare.get('/', (_req, res) => res.end('ok'));
  const scoped = express();
  scoped.use(tokenlay());
  scoped.get('/', (_req, res) => res.end('ok'));
  const [a, b] = [await listen(bare), await listen(scoped)];

  const cases: Array<[string, () => Promise<unknown>]> = [
    ['LLM call: OpenAI (baseline)', () => plain.chat.completions.create(body)],
    ['LLM call: TokenlayOpenAI in a scope', () => runWithTokenlay(fields, () => wrapped.chat.completions.create(body))],
    ['request: Express (baseline)', () => fetch(a.url).then((r) => r.text())],
    ['request: Express + tokenlay()', () => fetch(b.url).then((r) => r.text())],
  ];
  for (const [, fn] of cases) await measure(fn, 200); // warm-up
  const results = new Map<string, number[][]>();
  // Interleaved rounds, so drift on a shared machine hits every case alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of cases) {
      const list = results.get(name) ?? [];
      list.push(await measure(fn, CALLS));
      results.set(name, list);
    }
  }
  console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}, ${ROUNDS} rounds × ${CALLS} sequential calls\n`);
  console.log('| case | p50 µs | p90 µs | p99 µs |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, rounds] of results) {
    const med = (p: number) => rounds.map((r) => percentile(r, p)).sort((x, y) => x - y)[Math.floor(rounds.length / 2)];
    console.log(`| ${name} | ${med(0.5).toFixed(0)} | ${med(0.9).toFixed(0)} | ${med(0.99).toFixed(0)} |`);
  }
  await a.close();
  await b.close();
  await provider.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
