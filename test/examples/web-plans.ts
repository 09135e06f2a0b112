/**
 * The smoke test of the web examples whose users are on a free and a pro plan (express-passport,
 * express-jwt, koa-jwt, fastify-jwt, hono-jwt). Each serves the same contract, in its framework's
 * own way:
 *
 * - users `alice` (free, password `alice-pw`) and `bob` (pro, password `bob-pw`) sign in as the
 *   app's auth does; the test file says how (`signIn`);
 * - `POST /chat` `{ message }` answers `{ answer, model, usage }`: the completion's text and model,
 *   and the request's roll-up from the adapter;
 * - the free plan's rule routes to one model and refuses the 4th call of a day with its message;
 *   the pro plan's rule routes to another model;
 * - a call without a valid sign-in is answered 401.
 *
 * The example runs embedded (no tokenlayKey), so the provider stand-in sees no `x-tokenlay-*`
 * header: attribution shows in the model each rule chose, in each request's own roll-up, in the
 * per-user counter that refuses alice, and in the line per call that `TOKENLAY_DEBUG=1` prints.
 */
import jsonwebtoken from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerText, startProvider, type Provider } from '../support/provider.js';
import { bearerLogin, failsOnPortInUse, installExample, postJson, promptLengthUsage, STAND_IN_KEY, startExample, type RunningExample } from './support.js';

export type DemoUser = 'alice' | 'bob';
const PLAN: Record<DemoUser, 'free' | 'pro'> = { alice: 'free', bob: 'pro' };
/** Calls each user makes at once in the attribution test: alice all that the free plan allows in a day. */
const CALLS: Record<DemoUser, number> = { alice: 3, bob: 5 };
export const PASSWORD: Record<DemoUser, string> = { alice: 'alice-pw', bob: 'bob-pw' };

export interface PlansExample {
  /** The folder in `examples/`. */
  name: string;
  /** Signs a demo user in the app's own way; resolves the headers that carry the sign-in. Default: a bearer token from `POST /login`. */
  signIn?(url: string, user: DemoUser): Promise<Record<string, string>>;
  /** Headers of a sign-in the app must refuse, besides none at all. Default: a bearer token signed with another secret. */
  forged?: Record<string, string>;
  /** The model each plan's rule routes a call to. */
  models: { free: string; pro: string };
  /** The free rule's `error_message`. */
  freeMessage: string;
  /** What the app answers, with its 401, to a call with no sign-in (an `expect` matcher or a value). */
  unauthenticated: unknown;
}

/** A bearer token alice made herself, claiming the pro plan: signed with a secret the app does not have. */
function forgedBearer(): Record<string, string> {
  return { authorization: `Bearer ${jsonwebtoken.sign({ sub: 'alice', plan: 'pro' }, 'not-the-app-secret', { expiresIn: '1h' })}` };
}

// Each call's prompt has its own length and the stand-in reports that length as its prompt
// tokens (promptLengthUsage), so a roll-up that took another request's call shows it.
const question = (user: DemoUser, i: number) => `${user} asks question ${i}${'?'.repeat(i * 2 + (user === 'bob' ? 1 : 0))}`;

/** The debug lines of calls that carried `user`. */
const callLines = (output: string, user: DemoUser) => output.split('\n').filter((line) => line.startsWith('tokenlay: call ') && line.includes(` user="${user}" `));

export function plansSuite(example: PlansExample): void {
  const signIn = example.signIn ?? ((url: string, user: DemoUser) => bearerLogin(url, user, PASSWORD[user]));
  describe(`examples/${example.name}`, () => {
    let provider: Provider;
    let app: RunningExample;
    const signedIn = {} as Record<DemoUser, Record<string, string>>;
    const chat = (user: DemoUser | null, message: string, headers = user ? signedIn[user] : {}) => postJson(`${app.url}/chat`, { message }, headers);

    beforeAll(() => installExample(example.name), 300_000);
    beforeAll(async () => {
      provider = await startProvider({ usage: promptLengthUsage });
      app = await startExample(example.name, { providerBase: provider.base, env: { TOKENLAY_DEBUG: '1' }, readyTimeoutMs: 30_000 });
    }, 60_000);
    afterAll(async () => {
      await app?.stop();
      await provider?.close();
    });

    it('starts with `npm start`, says where it listens, and signs in alice (free) and bob (pro)', async () => {
      expect(app.output()).toContain(`listening on ${app.url}`);
      signedIn.alice = await signIn(app.url, 'alice');
      signedIn.bob = await signIn(app.url, 'bob');
      expect(signedIn.alice).not.toEqual(signedIn.bob);
    });

    it('refuses a wrong password with 401, and a login naming no one with 400 or 401', async () => {
      const wrong = await postJson(`${app.url}/login`, { username: 'alice', password: PASSWORD.bob });
      expect(wrong.status, JSON.stringify(wrong.body)).toBe(401);
      const empty = await postJson(`${app.url}/login`, {});
      expect([400, 401], JSON.stringify(empty.body)).toContain(empty.status); // passport-local says 400: no credentials
    });

    it("attributes concurrent calls of alice and bob each to its own user: the plan's model, the request's own roll-up", async () => {
      // Alice's three (all her plan allows today) interleaved with five of bob's, all in flight at once.
      const asked = [1, 2, 3, 4, 5].flatMap((i) => (['alice', 'bob'] as const).filter((user) => i <= CALLS[user]).map((user) => ({ user, message: question(user, i) })));
      const answers = await Promise.all(asked.map(({ user, message }) => chat(user, message)));

      for (const [i, { user, message }] of asked.entries()) {
        const { status, body } = answers[i]!;
        expect(status, `${user}: ${JSON.stringify(body)}`).toBe(200);
        expect(body.answer).toBe(answerText({})); // embedded: no x-tokenlay-user reached the provider
        expect(body.model).toBe(example.models[PLAN[user]]);
        expect(body.usage).toMatchObject({ calls: 1, inputTokens: message.length, outputTokens: 5 });
        expect(body.usage.cost).toBeGreaterThan(0);
      }
      // Per token, the pro plan's model costs more than the free plan's: each roll-up was priced for its own call.
      const perToken = (user: DemoUser) => answers.filter((_, i) => asked[i]!.user === user).map(({ body }) => body.usage.cost / (body.usage.inputTokens + 5));
      expect(Math.min(...perToken('bob'))).toBeGreaterThan(Math.max(...perToken('alice')));

      // What the provider saw: each question on the model of its asker's plan, and no tokenlay header.
      expect(provider.requests).toHaveLength(asked.length);
      for (const request of provider.requests) {
        const asker = asked.find(({ message }) => message === request.body.messages.at(-1).content)!;
        expect(request.body.model, asker.message).toBe(example.models[PLAN[asker.user]]);
        expect(Object.keys(request.headers).filter((name) => name.startsWith('x-tokenlay-'))).toEqual([]);
      }
      // What tokenlay says it attributed: each user's answered calls, with the user's plan.
      for (const user of ['alice', 'bob'] as const) {
        const lines = callLines(app.output(), user);
        expect(lines, app.output()).toHaveLength(CALLS[user]);
        for (const line of lines) expect(line).toMatch(new RegExp(`plan="${PLAN[user]}" .*status=200`));
      }
    });

    it("refuses alice's 4th call of the day with 429 and the free rule's message; bob goes on", async () => {
      const before = provider.requests.length;
      const refused = await chat('alice', question('alice', 4));
      expect(refused.status, JSON.stringify(refused.body)).toBe(429);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      expect(refused.body.error.message).toBe(example.freeMessage);
      expect(refused.body.error.tokenlay.limit).toMatchObject({ type: 'requests', max: 3, scope: 'user=alice' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(provider.requests).toHaveLength(before); // a refused call never reaches the provider

      const bob = await chat('bob', question('bob', CALLS.bob + 1));
      expect(bob.status, JSON.stringify(bob.body)).toBe(200);
      expect(bob.body.model).toBe(example.models.pro);
      expect(provider.requests).toHaveLength(before + 1);
    });

    it('answers 401 to a call without a sign-in, or with a forged one, and calls no model', async () => {
      const before = provider.requests.length;
      const anonymous = await chat(null, 'who am I?');
      expect(anonymous.status, JSON.stringify(anonymous.body)).toBe(401);
      expect(anonymous.body).toEqual(example.unauthenticated);
      const forged = await chat(null, 'I am alice on pro', example.forged ?? forgedBearer());
      expect(forged.status, JSON.stringify(forged.body)).toBe(401);
      expect(provider.requests).toHaveLength(before);
    });

    it('run a second time on the same PORT, it fails saying the address is in use, rather than saying it listens', () => failsOnPortInUse(example.name));

    it('never prints the provider key', () => {
      expect(app.output()).not.toContain(STAND_IN_KEY);
    });
  });
}
