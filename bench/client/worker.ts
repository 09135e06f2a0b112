/**
 * One measured client process: `node --import tsx bench/client/worker.ts <variant> <provider url>`.
 * On `run`, keeps `concurrency` chat completions in flight for `durationMs` and answers how many
 * were made and the CPU this process spent, µs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';
import OpenAI from 'openai';
import { shipped } from '../lib/shipped.js';
import { serveParent } from '../lib/child.js';

const [variant, url, beforeDist] = process.argv.slice(2);
// `before-*` variants load another build of the package (BENCH_CLIENT_BEFORE), for a before/after in one run.
const { TokenlayOpenAI, runWithTokenlay } = (
  variant.startsWith('before-') ? await import(pathToFileURL(`${beforeDist}/index.js`).href) : await shipped('index')
) as Awaited<ReturnType<typeof shipped<'index'>>>;
const stream = variant.endsWith('-stream');
const embedded = variant.includes('embedded');
const messages = [{ role: 'user' as const, content: 'Summarise the quarterly report in three bullet points.' }];
const fields = { user: 'user-1234', org: 'acme', plan: 'pro', feature: 'chat' };

const plain = new OpenAI({ apiKey: 'sk-bench', baseURL: `${url}/v1`, maxRetries: 0 });
// Embedded: the engine in-process with no rules on the memory store, sending straight to the stand-in.
const wrapped = embedded
  ? new TokenlayOpenAI({ providerApiKey: 'sk-bench', providerApiBase: `${url}/v1`, policy: { version: 1, rules: [] }, store: 'memory', maxRetries: 0 })
  : new TokenlayOpenAI({ providerApiKey: 'sk-bench', tokenlayKey: 'tl-bench', tokenlayBaseUrl: url, maxRetries: 0 });

async function once(client: OpenAI): Promise<void> {
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

// Each call in its own scope, as a request handler would make it. `als-*` is plain OpenAI inside a
// bare AsyncLocalStorage scope: what any request-context middleware costs the call (on Node 20,
// ALS's promise hooks run for every promise the SDK and fetch make), without tokenlay.
const als = new AsyncLocalStorage<typeof fields>();
const call = /^(before-)?tokenlay/.test(variant)
  ? () => runWithTokenlay(fields, () => once(wrapped))
  : variant.startsWith('als')
    ? () => als.run(fields, () => once(plain))
    : () => once(plain);

async function run(durationMs: number, concurrency: number): Promise<{ calls: number; cpuUs: number; ms: number }> {
  const start = performance.now();
  const deadline = start + durationMs;
  const cpu = process.cpuUsage();
  let calls = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await call();
        calls++;
      }
    }),
  );
  const spent = process.cpuUsage(cpu);
  return { calls, cpuUs: spent.user + spent.system, ms: performance.now() - start };
}

serveParent('', { run: (m: { durationMs: number; concurrency: number }) => run(m.durationMs, m.concurrency) });
