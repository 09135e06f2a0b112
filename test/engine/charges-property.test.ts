import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { join } from 'node:path';
import { REDIS_URL, useRedisPrefixes } from '../store/services.js';
import { useProvider, type Behavior, type Provider } from '../support/provider.js';
import { as, tempDir } from './support.js';

const redisPrefix = useRedisPrefixes();

/** The counters and ledger of one run, on each kind of store. */
const stores: Record<string, () => { store: string; ledger?: string }> = {
  memory: () => ({ store: 'memory' }),
  sqlite: () => ({ store: `sqlite:${join(tempDir(), 'usage.db')}` }),
  redis: () => ({ store: `${REDIS_URL}?prefix=${encodeURIComponent(redisPrefix())}`, ledger: 'memory' }),
};

/** What the provider does with one call, and whether and when its caller leaves. */
interface Plan {
  answer: 'ok' | 'refused' | 'cut' | 'implausible';
  stream: boolean;
  delayMs: number;
  /** ms after sending the call; undefined: the caller stays. */
  leaveAfterMs: number | undefined;
}

const plans = new Map<string, Plan>();
const planOf = (body: any): Plan | undefined => plans.get(String(body?.messages?.[0]?.content ?? ''));

let provider!: Provider;
useProvider((p) => (provider = p), {
  behavior: (r): Behavior | undefined => {
    const plan = planOf(r.body);
    if (!plan) return undefined;
    if (plan.answer === 'refused') return { kind: 'status', status: 400 };
    if (plan.answer === 'cut' && !plan.stream) return { kind: 'cut', bytes: 80 };
    return { kind: 'delay', ms: plan.delayMs };
  },
  rawUsage: (r) => (planOf(r.body)?.answer === 'implausible' ? { prompt_tokens: 10, completion_tokens: 1e308 } : { prompt_tokens: 12, completion_tokens: 7 }),
});

const now = () => Date.parse('2026-12-06T10:00:30Z');
const DAY = Math.floor(now() / 86_400_000) * 86_400_000;
// Limits far above what a run spends: every counter counts, none refuses.
const rules = {
  rules: [
    {
      id: 'meter',
      if: {},
      then: {
        limits: [
          { type: 'requests', max: 1e6, window: 'day', per: 'user' },
          { type: 'tokens', max: 1e12, window: 'day', per: 'user' },
          { type: 'cost', max: 1e6, window: 'day', per: 'user' },
        ],
      },
    },
  ],
};

const plan = fc.record({
  answer: fc.constantFrom<Plan['answer']>('ok', 'refused', 'cut', 'implausible'),
  stream: fc.boolean(),
  delayMs: fc.integer({ min: 0, max: 40 }),
  leaveAfterMs: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
});

describe('every call charged once, whatever the caller and the provider do', () => {
  it.each(Object.keys(stores))('keeps the counters equal to the ledger on %s under concurrent JSON and streamed calls, callers who leave, refusals, cut and implausible answers', async (kind) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(plan, { minLength: 1, maxLength: 10 }), async (batch) => {
        run++;
        const user = `${kind}-run-${run}`;
        const engine = createEmbeddedFetch({ rules, ...stores[kind]!(), now });
        const before = provider.requests.length;
        try {
          await Promise.allSettled(
            batch.map(async (p, i) => {
              const content = `${user}-call-${i}`;
              plans.set(content, p);
              const controller = new AbortController();
              // Stays on the wall clock: the instant the caller leaves is generated input, to land anywhere in the call.
              if (p.leaveAfterMs !== undefined) setTimeout(() => controller.abort(), p.leaveAfterMs);
              const response = await engine(`${provider.base}/chat/completions`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...as({ user }).headers },
                body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], stream: p.stream }),
                signal: controller.signal,
              });
              await response.text();
            }),
          );
          await engine.engine.flush();
          const rows = await engine.engine.store.ledger({ fields: { user } });
          const read = (metric: 'requests' | 'tokens' | 'cost') => engine.engine.store.read(`meter|${metric}|day|user=${user}`, metric, DAY, now());
          const [requests, tokens, cost] = await Promise.all([read('requests'), read('tokens'), read('cost')]);
          // One row per call, nothing reserved any more.
          expect(rows).toHaveLength(batch.length);
          expect([requests.reserved, tokens.reserved, cost.reserved]).toEqual([0, 0, 0]);
          // Requests count the calls the provider got; tokens and cost what the ledger billed.
          expect(requests.used).toBe(provider.requests.length - before);
          expect(tokens.used).toBe(rows.reduce((sum, r) => sum + r.inputTokens + r.outputTokens, 0));
          expect(cost.used).toBeCloseTo(rows.reduce((sum, r) => sum + r.cost, 0), 12);
          for (const r of rows) {
            expect(Number.isSafeInteger(r.inputTokens) && Number.isSafeInteger(r.outputTokens)).toBe(true);
            expect(r.outputTokens).toBeLessThan(200_000);
          }
        } finally {
          await engine.close();
        }
      }),
      { numRuns: 8 },
    );
  }, 60_000);
});
