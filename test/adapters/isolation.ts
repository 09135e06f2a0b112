/**
 * The isolation suite every adapter and framework major runs: 200 concurrent JSON POSTs from 20
 * users, each authenticated by the framework's real auth package, with passport-local logins and
 * multipart uploads in flight among them where the framework has them; each request makes k LLM
 * calls (k varies per request) after bounded, seeded random delays. Every call names the user it must be attributed to
 * in its message, so each call the provider stand-in records can be checked: zero misattributed
 * calls, and each request's roll-up (the framework's own, and onFinish's) counts exactly its k.
 *
 * A framework's test file describes how to start an app serving the contract below, once per case
 * (auth before and after tokenlay()); `isolationSuite` does the rest.
 */
import { describe, expect, it } from 'vitest';
import type { TokenlayUsage } from '../../src/index.js';
import { seeded, sleep } from '../support/http.js';
import { chat, token, useStack, type Stack } from './helpers.js';

/** What one request asks the route to do. */
export interface Job {
  id: string;
  user: string;
  /** LLM calls to make. */
  k: number;
  /** Delay before each call, ms. */
  delays: number[];
}

/** What the route of every case gets from the suite. */
export interface Kit {
  /** Makes the job's k calls: the first half one after another, the rest concurrently. */
  work(job: Job): Promise<void>;
  /** To be passed the roll-up and the `x-job` header of each finished request. */
  onFinish(usage: TokenlayUsage, jobId: unknown): void;
}

export type Kind = 'bearer' | 'login' | 'multipart';

export interface IsolationCase {
  /** e.g. 'koa-jwt before tokenlay()'. */
  name: string;
  /**
   * The app serves `POST /chat`: a JWT in `authorization`, the job as the JSON body. `also` adds
   * `login`: `POST /login` with the job plus `username`/`password` (passport-local) as the JSON
   * body; and `multipart`: `POST /upload` with a JWT and a form holding a `job` field (JSON) and a
   * `file`. Every route answers `{ usage }`: the framework's roll-up, once the job's work is done.
   */
  also?: Array<Exclude<Kind, 'bearer'>>;
  start(kit: Kit): Promise<{ url: string; close(): Promise<void> }>;
}

const USERS = Array.from({ length: 20 }, (_, i) => `user-${String(i).padStart(2, '0')}`);
/** JSON POSTs with a JWT per case; each other kind of request adds EXTRA more, all in flight together. */
export const REQUESTS = 200;
const EXTRA = 50;

function makeJobs(seed: number, kinds: Kind[]): Array<Job & { kind: Kind }> {
  const random = seeded(seed);
  const all = kinds.flatMap((kind) => Array.from({ length: kind === 'bearer' ? REQUESTS : EXTRA }, () => kind));
  // Kinds interleaved, so that JSON, login and upload requests overlap.
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.map((kind, n) => {
    const k = 1 + Math.floor(random() * 4);
    return {
      kind,
      id: `job-${n}`,
      user: USERS[Math.floor(random() * USERS.length)],
      k,
      delays: Array.from({ length: k }, () => Math.floor(random() * 8)),
    };
  });
}

function sendJob(url: string, job: Job & { kind: Kind }): Promise<Response> {
  const { kind, ...body } = job;
  const headers: Record<string, string> = { 'x-job': job.id };
  if (kind !== 'login') headers.authorization = `Bearer ${token({ sub: job.user })}`;
  if (kind === 'multipart') {
    const form = new FormData();
    form.append('job', JSON.stringify(body));
    form.append('file', new Blob([new Uint8Array(2_000 + job.k * 1_000)]), 'upload.bin');
    return fetch(url + '/upload', { method: 'POST', headers, body: form });
  }
  const json = kind === 'login' ? { ...body, username: job.user, password: 'secret' } : body;
  return fetch(url + (kind === 'login' ? '/login' : '/chat'), {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(json),
  });
}

function makeKit(stack: Stack, finished: Map<string, TokenlayUsage>): Kit {
  return {
    async work(job) {
      const call = async (i: number) => {
        // Stays on the wall clock: generated delays interleave the concurrent jobs across real timer hops.
        await sleep(job.delays[i]);
        await stack.openai.chat.completions.create(chat(`${job.user}|${job.id}|${i}`));
      };
      const half = Math.ceil(job.k / 2);
      for (let i = 0; i < half; i++) await call(i);
      await Promise.all(Array.from({ length: job.k - half }, (_, j) => call(half + j)));
    },
    onFinish(usage, jobId) {
      if (typeof jobId === 'string') finished.set(jobId, { ...usage });
    },
  };
}

/** Runs the shared isolation cases against one framework major. */
export function isolationSuite(framework: string, cases: IsolationCase[]): void {
  const stack = useStack();
  describe(`${framework}: isolation`, () => {
    it.each(cases.map((c, i) => [c.name, c, i] as const))(
      `keeps ${REQUESTS} concurrent JSON POSTs from ${USERS.length} users apart, with logins and uploads among them: %s`,
      async (_name, c, index) => {
        const finished = new Map<string, TokenlayUsage>();
        const server = await c.start(makeKit(stack, finished));
        try {
          const jobs = makeJobs(1000 + index, ['bearer', ...(c.also ?? [])]);
          const answers = await Promise.all(
            jobs.map(async (job) => {
              const res = await sendJob(server.url, job);
              const text = await res.text();
              return { job, status: res.status, text };
            }),
          );

          const failed = answers.filter((a) => a.status !== 200).map((a) => `${a.job.id} (${a.job.kind}): ${a.status} ${a.text.slice(0, 200)}`);
          expect(failed).toEqual([]);
          const wrongRollUps = answers
            .filter((a) => JSON.parse(a.text).usage?.calls !== a.job.k)
            .map((a) => `${a.job.id} (${a.job.kind}): expected ${a.job.k} calls, roll-up says ${JSON.stringify(JSON.parse(a.text).usage)}`);
          expect(wrongRollUps).toEqual([]);

          const expected = new Set(jobs.flatMap((job) => Array.from({ length: job.k }, (_, i) => `${job.user}|${job.id}|${i}`)));
          const misattributed: string[] = [];
          const seen = new Set<string>();
          for (const r of stack.provider.requests) {
            const content: string = r.body.messages[0].content;
            const user = r.headers['x-tokenlay-user'];
            if (content.split('|')[0] !== user) misattributed.push(`${content} was sent as ${user ?? 'nobody'}`);
            seen.add(content);
          }
          expect(misattributed).toEqual([]);
          expect(stack.provider.requests.length).toBe(expected.size);
          expect(seen).toEqual(expected);

          // onFinish runs once the response has gone out: polled (bounded) for the last ones.
          const deadline = Date.now() + 10_000;
          while (finished.size < jobs.length && Date.now() < deadline) await sleep(10);
          const wrongFinish = jobs
            .filter((job) => finished.get(job.id)?.calls !== job.k)
            .map((job) => `${job.id}: expected ${job.k}, onFinish got ${JSON.stringify(finished.get(job.id))}`);
          expect(wrongFinish).toEqual([]);
        } finally {
          await server.close();
        }
      },
    );
  });
}
