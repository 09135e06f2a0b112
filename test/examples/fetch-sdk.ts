/**
 * The smoke test of the examples that give a fetch-based SDK tokenlay's fetch
 * (`createTokenlayFetch`) inside an Express app with `tokenlay()`: vercel-ai-sdk and langchain.
 * Each serves the same contract:
 *
 * - customers call with `Authorization: Bearer demo-key-alice` (free plan) or `demo-key-bob` (pro);
 * - `POST /chat` `{ prompt }` answers `{ text, usage }` (the request's roll-up); `POST /chat/stream`
 *   streams the text, and every request's roll-up is logged by `onFinish` as
 *   `usage <user> <path> <json>`;
 * - the free plan's rule sets `max_tokens: 200` and refuses the 4th call of a day with its message;
 *   the pro plan's sets `max_tokens: 2000`.
 *
 * The fetch runs the engine in-process, so the provider stand-in sees no `x-tokenlay-*` header:
 * attribution shows in the `max_tokens` each plan's rule set, in each request's own roll-up, and
 * in the per-user counter that refuses alice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvider, type Provider } from '../support/provider.js';
import { failsOnPortInUse, installExample, lastMessage, postJson, printedLines, promptLengthUsage, STAND_IN_KEY, STREAMED_OUTPUT_TOKENS, startExample, type RunningExample } from './support.js';

type Customer = 'alice' | 'bob';
const KEY: Record<Customer, string> = { alice: 'demo-key-alice', bob: 'demo-key-bob' };
const MAX_TOKENS: Record<Customer, number> = { alice: 200, bob: 2000 };
const FREE_MESSAGE = 'The free plan allows 3 answers a day; upgrade to pro for more.';

const prompt = (user: Customer, i: number) => `${user} asks ${i}${'?'.repeat(i * 2 + (user === 'bob' ? 1 : 0))}`;

export function fetchSdkSuite(name: string): void {
  describe(`examples/${name}`, () => {
    let provider: Provider;
    let app: RunningExample;
    const auth = (user: Customer) => ({ authorization: `Bearer ${KEY[user]}` });
    const chat = (user: Customer, text: string) => postJson(`${app.url}/chat`, { prompt: text }, auth(user));
    const stream = async (user: Customer, text: string) => {
      const res = await fetch(`${app.url}/chat/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth(user) },
        body: JSON.stringify({ prompt: text }),
        signal: AbortSignal.timeout(15_000),
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    /** The roll-ups `onFinish` logged for `user` on `path` (it logs once the answer has been sent). */
    const logged = async (user: Customer, path: string) => {
      const prefix = `usage ${user} ${path} `;
      return (await printedLines(app, prefix)).map((line) => JSON.parse(line.slice(prefix.length)));
    };

    beforeAll(() => installExample(name), 300_000);
    beforeAll(async () => {
      provider = await startProvider({ usage: promptLengthUsage });
      app = await startExample(name, { providerBase: provider.base, readyTimeoutMs: 30_000 });
    }, 60_000);
    afterAll(async () => {
      await app?.stop();
      await provider?.close();
    });

    it('starts with `npm start` and says where it listens', () => {
      expect(app.output()).toContain(`listening on ${app.url}`);
    });

    it("attributes concurrent plain and streamed calls of alice and bob each to its own user and plan", async () => {
      const plain = [1, 2].flatMap((i) => (['alice', 'bob'] as const).map((user) => ({ user, text: prompt(user, i) })));
      const streamed = (['alice', 'bob'] as const).map((user) => ({ user, text: prompt(user, 3) }));
      const [answers, streams] = await Promise.all([
        Promise.all(plain.map(({ user, text }) => chat(user, text))),
        Promise.all(streamed.map(({ user, text }) => stream(user, text))),
      ]);

      for (const [i, { user, text }] of plain.entries()) {
        const { status, body } = answers[i]!;
        expect(status, `${user}: ${JSON.stringify(body)}`).toBe(200);
        expect(body.text.trim()).toBe('hello anonymous'); // embedded: no x-tokenlay-user reached the provider
        expect(body.usage).toMatchObject({ calls: 1, inputTokens: text.length, outputTokens: 5 });
        expect(body.usage.cost).toBeGreaterThan(0);
      }
      for (const [i, { user }] of streamed.entries()) {
        expect(streams[i], user).toMatchObject({ status: 200, text: expect.stringContaining('hello anonymous') });
      }

      // What the provider saw: each prompt with the max_tokens of its customer's plan, and no tokenlay header.
      expect(provider.requests).toHaveLength(plain.length + streamed.length);
      for (const request of provider.requests) {
        const asker = [...plain, ...streamed].find(({ text }) => text === lastMessage(request))!;
        expect(asker, lastMessage(request)).toBeDefined();
        expect(request.body.max_tokens, asker.text).toBe(MAX_TOKENS[asker.user]);
        expect(Object.keys(request.headers).filter((header) => header.startsWith('x-tokenlay-'))).toEqual([]);
      }

      // Streamed calls are metered from the stream's own usage, in the roll-up of their request.
      for (const { user, text } of streamed) {
        const rollups = await logged(user, '/chat/stream');
        expect(rollups).toEqual([expect.objectContaining({ calls: 1, inputTokens: text.length, outputTokens: STREAMED_OUTPUT_TOKENS })]);
        expect(rollups[0].cost).toBeGreaterThan(0);
      }
    });

    it("refuses alice's 4th call of the day at once with 429 and the free rule's message; bob goes on", async () => {
      const before = provider.requests.length;
      const started = Date.now();
      const refused = await chat('alice', prompt('alice', 4));
      expect(refused.status, JSON.stringify(refused.body)).toBe(429);
      expect(refused.body.error).toMatchObject({ message: FREE_MESSAGE, type: 'tokenlay_limit_exceeded' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // Not retried by the SDK: its first retry alone would wait 2 s or more.
      expect(Date.now() - started).toBeLessThan(1_900);

      const refusedStream = await stream('alice', prompt('alice', 5));
      expect(refusedStream.status).toBe(429);
      expect(JSON.parse(refusedStream.text).error.message).toBe(FREE_MESSAGE);
      expect(provider.requests).toHaveLength(before); // a refused call never reaches the provider

      const bob = await chat('bob', prompt('bob', 4));
      expect(bob.status, JSON.stringify(bob.body)).toBe(200);
      expect(provider.requests).toHaveLength(before + 1);
    });

    it('answers 401 to a call without a known API key, and calls no model', async () => {
      const before = provider.requests.length;
      for (const headers of [{}, { authorization: 'Bearer demo-key-mallory' }] as Record<string, string>[]) {
        const { status } = await postJson(`${app.url}/chat`, { prompt: 'who am I?' }, headers);
        expect(status, JSON.stringify(headers)).toBe(401);
      }
      expect(provider.requests).toHaveLength(before);
    });

    it('never prints the provider key', () => {
      expect(app.output()).not.toContain(STAND_IN_KEY);
    });

    it('run a second time on the same PORT, it fails saying the address is in use, rather than saying it listens', () => failsOnPortInUse(name));
  });
}
