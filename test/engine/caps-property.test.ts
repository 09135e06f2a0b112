import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { fieldsToHeaders } from '../../src/protocol/headers.js';
import { honestUsage } from '../support/honest-usage.js';
import { startProvider, type Provider } from '../support/provider.js';
import { REDIS_URL, useRedisPrefixes } from '../store/services.js';
import { PROVIDER_KEY, tempDir } from './support.js';

// $0.001 per input token and $0.002 per output token: caps of cents bite within a few calls.
const prices = { 'gpt-4o-mini': { input: 1000, output: 2000 } };
const prefixes = useRedisPrefixes();

interface CallSpec {
  stream: boolean;
  maxTokens: number | null;
  /** Abort after this many ms (null: never). */
  abortAfter: number | null;
  words: number;
  /** Output tokens the provider would write if the call allowed them. */
  wanted: number;
}

const callSpec: fc.Arbitrary<CallSpec> = fc.record({
  stream: fc.boolean(),
  maxTokens: fc.option(fc.integer({ min: 1, max: 3000 })),
  abortAfter: fc.option(fc.integer({ min: 0, max: 40 })),
  words: fc.integer({ min: 1, max: 40 }),
  wanted: fc.integer({ min: 1, max: 5000 }),
});

let provider: Provider;
beforeAll(async () => {
  // The provider reads how much it wants to write from the prompt, and never writes past the sent limit.
  provider = await startProvider({
    usage: honestUsage((r) => Number(/want=(\d+)/.exec(JSON.stringify(r.body?.messages))?.[1] ?? 1)),
    behavior: () => ({ kind: 'delay', ms: 5 }),
  });
});
afterAll(() => provider.close());

async function send(fetch: typeof globalThis.fetch, spec: CallSpec, i: number): Promise<void> {
  const controller = new AbortController();
  // Stays on the wall clock: the abort instant is generated input, to land anywhere in the call's stages.
  const timer = spec.abortAfter === null ? undefined : setTimeout(() => controller.abort(), spec.abortAfter);
  const body: Record<string, unknown> = {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: `want=${spec.wanted} ${'token 東京 '.repeat(spec.words)}#${i}` }],
    stream: spec.stream,
  };
  if (spec.maxTokens !== null) body.max_tokens = spec.maxTokens;
  try {
    const response = await fetch(`${provider.base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PROVIDER_KEY}`, ...fieldsToHeaders({ user: 'pat' }) },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    await response.text();
  } catch {
    // An aborted call: settled by the engine all the same.
  } finally {
    clearTimeout(timer);
  }
}

describe.each(['memory', 'sqlite', 'redis'])('cost and token caps under random concurrent calls (%s store)', (kind) => {
  it('settled spend and tokens never pass their caps, and the counters equal the ledger', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(callSpec, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 50, max: 20_000 }), async (calls, cents, tokenCap) => {
        const costCap = cents / 100;
        const rules = {
          rules: [{ id: 'caps', if: {}, then: { limits: [{ type: 'cost', max: costCap, window: 'month', per: 'user' }, { type: 'tokens', max: tokenCap, window: 'month', per: 'user' }] } }],
        };
        const store = kind === 'memory' ? 'memory' : kind === 'sqlite' ? `sqlite:${join(tempDir(), 'usage.db')}` : `${REDIS_URL}?prefix=${encodeURIComponent(prefixes())}`;
        const embedded = createEmbeddedFetch({ rules, store, prices, ledger: kind === 'redis' ? 'memory' : undefined });
        try {
          await Promise.all(calls.map((spec, i) => send(embedded, spec, i)));
          await embedded.engine.flush();
          const rows = await embedded.engine.store.ledger();
          expect(rows.length).toBeLessThanOrEqual(calls.length);
          const cost = rows.reduce((sum, r) => sum + r.cost, 0);
          const tokens = rows.reduce((sum, r) => sum + r.inputTokens + r.outputTokens, 0);
          expect(cost).toBeLessThanOrEqual(costCap * (1 + 1e-12));
          expect(tokens).toBeLessThanOrEqual(tokenCap);
          const now = Date.now();
          const month = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
          const costCounter = await embedded.engine.store.read('caps|cost|month|user=pat', 'cost', month, now);
          const tokenCounter = await embedded.engine.store.read('caps|tokens|month|user=pat', 'tokens', month, now);
          expect(costCounter.reserved).toBe(0);
          expect(tokenCounter.reserved).toBe(0);
          expect(costCounter.used).toBeCloseTo(cost, 9);
          expect(tokenCounter.used).toBe(tokens);
        } finally {
          await embedded.close();
        }
      }),
      { numRuns: 12, endOnFailure: true },
    );
  }, 120_000);
});
