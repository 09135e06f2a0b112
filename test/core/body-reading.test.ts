import { describe, expect, it } from 'vitest';
import { TokenlayOpenAI, getTokenlayMetadata, getTokenlayUsage, runWithTokenlay, tokenlayFetch } from '../../src/index.js';
import { useProvider, type Provider, type Recorded } from '../support/provider.js';

// Runs under every openai major (see vitest.config.ts): usage and metadata must not depend on
// whether the SDK reads a body with json() (openai 4 to 6) or text() (openai 7).

let provider: Provider;
useProvider((p) => (provider = p));

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
/** Each user's calls report their own token counts, so a mix-up shows in the numbers. */
const tokensOf = (r: Recorded) => {
  const user = String(r.headers['x-tokenlay-user'] ?? '');
  const n = Number(user.replace(/\D/g, '')) || 1;
  return { prompt: 100 * n, completion: n };
};

function client() {
  return new TokenlayOpenAI({ providerApiKey: 'sk-provider', tokenlayKey: 'tl-key', tokenlayBaseUrl: provider.url, maxRetries: 0 });
}

describe('tying an answer to its call', () => {
  it('leaves the response methods of the answer untouched', async () => {
    provider.options.proxyAnswers = true;
    const res = await tokenlayFetch(`${provider.base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) });
    expect(Object.prototype.hasOwnProperty.call(res, 'json')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(res, 'text')).toBe(false);
    expect(res.json).toBe(Response.prototype.json);
  });

  for (const read of ['json', 'text', 'arrayBuffer', 'blob', 'body reader'] as const) {
    it(`rolls up the body's usage when the body is read with ${read}()`, async () => {
      // No Tokenlay headers: the counts come from the body itself.
      await runWithTokenlay({ user: 'u3' }, async () => {
        provider.options.usage = tokensOf;
        const res = await tokenlayFetch(`${provider.base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) });
        if (read === 'body reader') {
          const reader = res.body!.getReader();
          while (!(await reader.read()).done);
        } else {
          await res[read]();
        }
        expect(getTokenlayUsage()).toEqual({ calls: 1, cost: 0, inputTokens: 300, outputTokens: 3 });
      });
    });
  }

  it("finds a completion's metadata and keeps the provider's x-request-id as its _request_id", async () => {
    provider.options.proxyAnswers = true;
    provider.options.requestIds = true;
    const completion = await client().chat.completions.create(chat);
    expect((completion as any)._request_id).toMatch(/^req_\d+$/);
    expect(getTokenlayMetadata(completion)).toMatchObject({ ruleId: 'stand-in-rule', cost: 0.0015 });
  });

  it('finds the metadata of an answer that carries no x-request-id at all', async () => {
    provider.options.proxyAnswers = true;
    const openai = client();
    const a = await openai.chat.completions.create(chat);
    expect((a as any)._request_id).toBeNull();
    expect(getTokenlayMetadata(a)?.ruleId).toBe('stand-in-rule');
  });

  describe('ties each body to its own call, even when two answers carry the same x-request-id', () => {
    const rules = { rules: [{ id: 'every-call', if: {}, then: { limits: [{ type: 'requests', max: 1000, window: 'day', per: 'user' }] } }] };
    const modes = {
      remote: () => {
        provider.options.proxyAnswers = true;
        return client();
      },
      embedded: () => new TokenlayOpenAI({ providerApiKey: 'sk-provider', providerApiBase: provider.base, policy: rules, store: 'memory', maxRetries: 0 }),
    };
    /** Each read path: makes the call and gives what the app would pass to getTokenlayMetadata. */
    const paths: Record<string, (openai: TokenlayOpenAI) => Promise<unknown>> = {
      'create (JSON)': (openai) => openai.chat.completions.create(chat),
      '.withResponse() data': async (openai) => (await openai.chat.completions.create(chat).withResponse()).data,
      '.withResponse()': (openai) => openai.chat.completions.create(chat).withResponse(),
      '.asResponse()': (openai) => openai.chat.completions.create(chat).asResponse(),
      stream: async (openai) => {
        const stream = await openai.chat.completions.create({ ...chat, stream: true });
        for await (const _ of stream);
        return stream;
      },
      'chat.completions.parse': (openai: any) => (openai.chat.completions.parse ?? openai.beta.chat.completions.parse).call(openai.chat.completions.parse ? openai.chat.completions : openai.beta.chat.completions, chat),
      'responses.create': (openai) => openai.responses.create({ model: 'gpt-4o-mini', input: 'hi' }),
      'embeddings.create': (openai) => openai.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }),
    };
    for (const [mode, make] of Object.entries(modes)) {
      for (const [path, call] of Object.entries(paths)) {
        it(`${mode}: ${path}`, async () => {
          provider.options.requestIds = 'req_same';
          // The first answer reports 100 input tokens, the second 200: a mix-up shows in the numbers.
          const order = new Map<Recorded, number>();
          provider.options.usage = (r) => {
            if (!order.has(r)) order.set(r, order.size + 1);
            return { prompt: 100 * order.get(r)!, completion: order.get(r)! };
          };
          const openai = make();
          try {
            const first = await call(openai);
            const second = await call(openai);
            expect(getTokenlayMetadata(first)?.inputTokens).toBe(100);
            expect(getTokenlayMetadata(second)?.inputTokens).toBe(200);
          } finally {
            await openai.close();
          }
        });
      }
    }
  });

  it('keeps 40 concurrent calls of two users apart: each body has its own metadata and each roll-up its own tokens', async () => {
    provider.options.proxyAnswers = true;
    provider.options.usage = tokensOf;
    const openai = client();
    const run = (user: string) =>
      runWithTokenlay({ user }, async () => {
        const bodies = await Promise.all(Array.from({ length: 20 }, () => openai.chat.completions.create(chat)));
        return { bodies, usage: getTokenlayUsage() };
      });
    const [one, two] = await Promise.all([run('user1'), run('user2')]);
    for (const body of one.bodies) {
      expect(body.choices[0].message.content).toBe('hello user1');
      expect(getTokenlayMetadata(body)).toMatchObject({ inputTokens: 100, outputTokens: 1 });
    }
    for (const body of two.bodies) {
      expect(body.choices[0].message.content).toBe('hello user2');
      expect(getTokenlayMetadata(body)).toMatchObject({ inputTokens: 200, outputTokens: 2 });
    }
    expect(one.usage).toMatchObject({ calls: 20, inputTokens: 2000, outputTokens: 20 });
    expect(two.usage).toMatchObject({ calls: 20, inputTokens: 4000, outputTokens: 40 });
  });

  it('rolls up the usage of a body read without tokenlay headers exactly once under every SDK read path', async () => {
    provider.options.usage = tokensOf;
    const openai = client();
    await runWithTokenlay({ user: 'u7' }, async () => {
      await openai.chat.completions.create(chat);
      await openai.chat.completions.create(chat).withResponse();
      await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
      expect(getTokenlayUsage()).toEqual({ calls: 3, cost: 0, inputTokens: 2100, outputTokens: 14 });
    });
  });
});
