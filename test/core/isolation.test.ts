import { afterAll, beforeAll, expect, it } from 'vitest';
import express from 'express';
import { expressjwt } from 'express-jwt';
import jwt from 'jsonwebtoken';
import { TokenlayOpenAI, getTokenlayUsage } from '../../src/index.js';
import { tokenlay } from '../../adapters/express.js';
import { startProvider, type Provider } from '../support/provider.js';
import { listen, seeded, sleep, type Listening } from '../support/http.js';

const SECRET = 'isolation-secret';
const USERS = 40;
const REQUESTS = 320;

let provider: Provider;
let app: Listening;

beforeAll(async () => {
  provider = await startProvider({
    // Some calls fail on their first attempt (500 or 429) and are retried by the SDK's own backoff;
    // every call is answered after a random delay, so calls of different users interleave.
    behavior: (r) => {
      const content: string = r.body?.messages?.[0]?.content ?? '';
      const delay = Number(/delay=(\d+)/.exec(content)?.[1] ?? 0);
      if (r.attempt === 1 && content.includes('fail=500')) return { kind: 'status', status: 500, headers: { 'retry-after-ms': '5' } };
      if (r.attempt === 1 && content.includes('fail=429')) return { kind: 'status', status: 429, headers: { 'retry-after-ms': '5' } };
      return delay ? { kind: 'delay', ms: delay } : undefined;
    },
  });
  const openai = new TokenlayOpenAI({ providerApiKey: 'sk-p', tokenlayKey: 'tl-k', tokenlayBaseUrl: provider.url, maxRetries: 2 });
  const server = express();
  server.use(tokenlay());
  server.use(express.json());
  server.use(expressjwt({ secret: SECRET, algorithms: ['HS256'] }));
  server.post('/chat', async (req, res) => {
    const { calls, tag, stream, fail, delay } = req.body as { calls: number; tag: string; stream: boolean[]; fail: string[]; delay: number[] };
    const answers: string[] = [];
    for (let i = 0; i < calls; i++) {
      // Stays on the wall clock: generated timer delays interleave the concurrent requests across real timer hops.
      await sleep(delay[i] % 7);
      const content = `${tag} call=${i} fail=${fail[i]} delay=${delay[i]}`;
      const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] };
      if (stream[i]) {
        const s = await openai.chat.completions.create({ ...body, stream: true });
        let text = '';
        for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
        answers.push(text.trim());
      } else {
        const r = await openai.chat.completions.create(body);
        answers.push(r.choices[0].message.content ?? '');
      }
    }
    res.json({ answers, usage: getTokenlayUsage() });
  });
  app = await listen(server);
});

afterAll(async () => {
  await app.close();
  await provider.close();
});

it(`keeps ${USERS} users apart across ${REQUESTS} concurrent requests (400+ calls) mixing streamed and retried calls`, async () => {
  const random = seeded(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const jobs = Array.from({ length: REQUESTS }, (_, n) => {
    const user = `user-${n % USERS}`;
    const calls = 1 + (n % 2); // 1 or 2 calls per request
    return {
      user,
      calls,
      tag: `who=${user} req=${n}`,
      stream: Array.from({ length: calls }, () => random() < 0.4),
      fail: Array.from({ length: calls }, () => pick(['none', 'none', 'none', '500', '429'])),
      delay: Array.from({ length: calls }, () => Math.floor(random() * 25)),
    };
  });
  const totalCalls = jobs.reduce((sum, j) => sum + j.calls, 0);
  expect(totalCalls).toBeGreaterThanOrEqual(400);

  const results = await Promise.all(
    jobs.map(async (job) => {
      const response = await fetch(`${app.url}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt.sign({ sub: job.user }, SECRET)}` },
        body: JSON.stringify(job),
      });
      expect(response.status).toBe(200);
      return { job, body: (await response.json()) as { answers: string[]; usage: { calls: number } } };
    }),
  );

  // Every answer the app got back was produced for its own user…
  for (const { job, body } of results) {
    expect(body.answers).toEqual(Array(job.calls).fill(`hello ${job.user}`));
    // …and each request's roll-up counts only its own calls.
    expect(body.usage.calls).toBe(job.calls);
  }
  // Every request the provider received, first attempts and retries alike, carried the user it was made for.
  const misattributed = provider.requests.filter((r) => {
    const expected = /who=(user-\d+)/.exec(r.body.messages[0].content)?.[1];
    return r.headers['x-tokenlay-user'] !== expected;
  });
  expect(misattributed).toEqual([]);
  const retried = provider.requests.filter((r) => r.attempt > 1).length;
  const streamed = provider.requests.filter((r) => r.body.stream).length;
  expect(retried).toBeGreaterThan(50);
  expect(streamed).toBeGreaterThan(100);
  expect(provider.requests.length).toBe(totalCalls + retried);
  // 400+ real calls with retries and backoff: on a busy 2-core machine this alone takes ~30 s.
}, 90_000);
