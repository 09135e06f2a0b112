/**
 * A background worker: jobs come off a queue, not out of an HTTP request, so there is no
 * middleware to say whose they are. Each job runs inside `runWithTokenlay(...)` with the fields of
 * the user it belongs to, and every LLM call it makes is attributed, limited and metered for them.
 *
 *   npm start                 # 8 jobs of two users, then a per-user summary read from the ledger
 *   npm start -- --jobs 20
 */
import { parseArgs } from 'node:util';
import fastq from 'fastq';
import Table from 'cli-table3';
import { TokenlayLimitError, TokenlayOpenAI, createStore, runWithTokenlay } from 'tokenlay';

const { values: args } = parseArgs({ options: { jobs: { type: 'string', default: process.env.JOBS ?? '8' } } });
const jobCount = Number(args.jobs);
if (!Number.isInteger(jobCount) || jobCount < 1) {
  console.error(`--jobs must be a whole number of jobs, 1 or more; got ${JSON.stringify(args.jobs)}. Example: npm start -- --jobs 8`);
  process.exit(2);
}

// SQLite keeps counters and the ledger across runs, and other processes (a web app, the
// `tokenlay usage` CLI) can read the same file. We keep the store object to read the ledger back.
const store = createStore(process.env.TOKENLAY_STORE ?? 'sqlite:./.tokenlay/usage.db');

// One client for the whole process. No tokenlayKey: the policy engine runs here (embedded mode).
// The provider key and base come from PROVIDER_API_KEY and PROVIDER_API_BASE.
const openai = new TokenlayOpenAI({ policy: './tokenlay.rules.yaml', store });

// Where jobs would come from a database or a Redis queue, the user is whoever enqueued them.
const users = [
  { user: 'alice', org: 'acme', plan: 'free' },
  { user: 'bob', org: 'globex', plan: 'pro' },
];
const jobs = Array.from({ length: jobCount }, (_, i) => ({
  id: i + 1,
  owner: users[i % users.length],
  // Some jobs stream their answer; they are metered all the same, from the stream's own usage.
  kind: i % 4 < 2 ? 'summarise' : 'draft',
}));

/** @param {(typeof jobs)[number]} job */
async function summarise(job) {
  const completion = await openai.chat.completions.create({
    // No model: the rule of the job owner's plan picks it (tokenlay.rules.yaml).
    messages: [{ role: 'user', content: `Summarise ticket #${job.id} in one line.` }],
  });
  return completion.choices[0].message.content;
}

/** @param {(typeof jobs)[number]} job */
async function draft(job) {
  const stream = await openai.chat.completions.create({
    messages: [{ role: 'user', content: `Draft a reply to ticket #${job.id}.` }],
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  return text.trim();
}

/** @param {(typeof jobs)[number]} job */
async function runJob(job) {
  const { user, plan } = job.owner;
  try {
    // The scope holds for everything the job awaits, however many calls it makes.
    const answer = await runWithTokenlay(job.owner, () => (job.kind === 'draft' ? draft(job) : summarise(job)));
    console.log(`job ${job.id} (${user}, ${plan}) ${job.kind}: ${answer}`);
  } catch (error) {
    // A limit is part of the plan, not a failure of the worker: report it and go on.
    if (!(error instanceof TokenlayLimitError)) throw error;
    console.log(`job ${job.id} (${user}, ${plan}) ${job.kind}: refused by ${error.ruleId}: ${error.error?.message ?? error.message}`);
  }
}

// Two jobs at a time: calls of different users overlap, and each is still attributed to its own.
const queue = fastq.promise(runJob, 2);
for (const job of jobs) void queue.push(job);
await queue.drained();

// Settles every call and writes the ledger; the store stays ours to read.
await openai.close();

const totals = new Map();
for (const row of await store.ledger()) {
  const user = row.fields.user ?? '(none)';
  const t = totals.get(user) ?? { plan: row.fields.plan ?? '', answered: 0, refused: 0, inputTokens: 0, outputTokens: 0, cost: 0 };
  if (row.status === 200) t.answered += 1;
  else t.refused += 1;
  t.inputTokens += row.inputTokens;
  t.outputTokens += row.outputTokens;
  t.cost += row.cost;
  totals.set(user, t);
}
const table = new Table({
  head: ['user', 'plan', 'answered', 'refused', 'tokens in', 'tokens out', 'cost (USD)'],
  // Colours only on a terminal, so that logs and pipes get plain text.
  ...(process.stdout.isTTY ? {} : { style: { head: [], border: [] } }),
});
for (const [user, t] of totals) table.push([user, t.plan, t.answered, t.refused, t.inputTokens, t.outputTokens, t.cost.toFixed(6)]);
console.log(`\nUsage per user (all runs in ${process.env.TOKENLAY_STORE ?? 'sqlite:./.tokenlay/usage.db'}):`);
console.log(table.toString());
await store.close();
