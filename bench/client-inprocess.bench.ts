/**
 * The client's own CPU per call, without a socket: `OpenAI` and `TokenlayOpenAI` given a `fetch`
 * that answers in-process (as a Tokenlay proxy would, report headers and the SSE trailer; or as
 * the provider, for embedded mode). With no network and no other process in the measurement, the
 * difference between variants is the client's work, steadier on a loaded machine than
 * `client.bench.ts`. Variants alternate round by round, each round starting at another one; a
 * round is a fixed number of calls.
 *
 *   BENCH_CLIENT_BEFORE=<another build's dist/> npx tsx bench/client-inprocess.bench.ts
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';
import OpenAI from 'openai';
import { shipped } from './lib/shipped.js';
import { median, spread } from './lib/stats.js';

type Index = Awaited<ReturnType<typeof shipped<'index'>>>;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const BEFORE = process.env.BENCH_CLIENT_BEFORE;

const messages = [{ role: 'user' as const, content: 'Summarise the quarterly report in three bullet points.' }];
const fields = { user: 'user-1234', org: 'acme', plan: 'pro', feature: 'chat' };
const completion = JSON.stringify({
  id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
});
const chunk = (content: string) =>
  `data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
const usageChunk = 'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}\n\n';
const trailer = ': x-tokenlay {"cost":0.0000048,"rule_id":null,"rule_action":"allow","limit_exceeded":false,"tokens_used":17,"input_tokens":12,"output_tokens":5,"duration":3,"warnings":[]}\n\n';
const encoder = new TextEncoder();
let requestIds = 0;

/** Answers as a Tokenlay proxy (remote) or as the provider (embedded, and plain `OpenAI`). */
function answering(asProxy: boolean): typeof fetch {
  return async (_input, init) => {
    const stream = typeof init?.body === 'string' && init.body.includes('"stream":true');
    const headers: Record<string, string> = { 'content-type': stream ? 'text/event-stream' : 'application/json', 'x-request-id': `req_${++requestIds}` };
    if (asProxy) Object.assign(headers, { 'x-tokenlay-rule-action': 'allow', 'x-tokenlay-limit-exceeded': 'false', 'x-tokenlay-duration': '3' });
    if (asProxy && !stream) Object.assign(headers, { 'x-tokenlay-cost': '0.0000048', 'x-tokenlay-tokens-used': '17', 'x-tokenlay-input-tokens': '12', 'x-tokenlay-output-tokens': '5' });
    if (!stream) return new Response(completion, { headers });
    const parts = [chunk('hel'), chunk('lo'), usageChunk, ...(asProxy ? [trailer] : []), 'data: [DONE]\n\n'];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(encoder.encode(next));
      },
    });
    return new Response(body, { headers });
  };
}

async function once(client: OpenAI, stream: boolean): Promise<void> {
  if (!stream) {
    const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    if (!answer.choices[0]?.message.content) throw new Error('empty answer');
    return;
  }
  const events = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let text = '';
  for await (const e of events) text += e.choices[0]?.delta?.content ?? '';
  if (!text) throw new Error('empty streamed answer');
}

const als = new AsyncLocalStorage<typeof fields>();

function variantsOf(label: string, index: Index): Array<[string, (stream: boolean) => Promise<void>]> {
  const remote = new index.TokenlayOpenAI({ providerApiKey: 'sk-bench', tokenlayKey: 'tl-bench', tokenlayBaseUrl: 'http://proxy.invalid', maxRetries: 0, fetch: answering(true) });
  const embedded = new index.TokenlayOpenAI({ providerApiKey: 'sk-bench', providerApiBase: 'http://provider.invalid/v1', policy: { rules: [] }, store: 'memory', maxRetries: 0, fetch: answering(false) });
  return [
    [`${label}remote`, (s) => index.runWithTokenlay(fields, () => once(remote, s))],
    [`${label}embedded`, (s) => index.runWithTokenlay(fields, () => once(embedded, s))],
  ];
}

async function main(): Promise<void> {
  const now = (await shipped('index')) as Index;
  const plain = new OpenAI({ apiKey: 'sk-bench', baseURL: 'http://provider.invalid/v1', maxRetries: 0, fetch: answering(false) });
  const variants: Array<[string, (stream: boolean) => Promise<void>]> = [
    ['als', (s) => als.run(fields, () => once(plain, s))],
    ...variantsOf('', now),
    ...(BEFORE ? variantsOf('before: ', (await import(pathToFileURL(`${BEFORE}/index.js`).href)) as Index) : []),
  ];
  const lines = [
    `${ROUNDS} rounds × ${CALLS} sequential calls per variant, alternating, after one warm-up round; the answer comes from an in-process fetch, so no socket and no other process is measured. CPU: this process's \`process.cpuUsage()\`.`,
    '',
    '| variant | JSON: CPU µs/call | JSON: over `OpenAI` in an ALS scope | stream: CPU µs/call | stream: over `OpenAI` in an ALS scope |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  const table = new Map<string, string[]>(variants.map(([name]) => [name, []]));
  for (const stream of [false, true]) {
    const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
    for (let round = -1; round < ROUNDS; round++) {
      // Each round starts at another variant, so that none always follows the same one (GC debt, warm caches).
      const start = (round + variants.length) % variants.length;
      for (const [name, run] of [...variants.slice(start), ...variants.slice(0, start)]) {
        const cpu = process.cpuUsage();
        for (let i = 0; i < CALLS; i++) await run(stream);
        const spent = process.cpuUsage(cpu);
        if (round >= 0) samples.get(name)!.push((spent.user + spent.system) / CALLS);
      }
    }
    const base = samples.get('als')!;
    for (const [name] of variants) {
      const own = samples.get(name)!;
      const over = own.map((v, r) => v - base[r]);
      table.get(name)!.push(spread(own, 1), name === 'als' ? '—' : `${spread(over, 1)}`);
      if (name !== 'als') console.error(`${stream ? 'stream' : 'JSON'} ${name}: +${median(over).toFixed(1)} µs over the ALS scope`);
    }
  }
  const labels: Record<string, string> = { als: '`OpenAI` in a bare `als.run` scope' };
  for (const [name, cells] of table) {
    const mode = name.endsWith('remote') ? 'remote mode' : 'embedded (no rules, memory store)';
    const label = labels[name] ?? `${name.startsWith('before: ') ? 'before: ' : ''}\`TokenlayOpenAI\`, ${mode}, in a scope`;
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
