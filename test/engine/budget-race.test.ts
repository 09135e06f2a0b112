import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { createPricer, reservationEstimate } from '../../src/metering/index.js';
import { honestUsage } from '../support/honest-usage.js';
import { startProvider } from '../support/provider.js';
import { REDIS_URL, useRedisPrefixes } from '../store/services.js';
import { as, onCleanup, PROVIDER_KEY, tempDir } from './support.js';

const CAP = 50;
const rules = { rules: [{ id: 'capped', if: {}, then: { limits: [{ type: 'cost', max: CAP, window: 'month', per: 'org' }] } }] };
// $0.10 per input token and $0.20 per output token make each call cost dollars, so the cap bites.
const prices = { 'gpt-4o-mini': { input: 100_000, output: 200_000 } };
// Text that 4 characters a token underestimates (CJK and digits): the provider's real count is higher.
const body = {
  model: 'gpt-4o-mini',
  max_tokens: 5,
  messages: [{ role: 'user' as const, content: '请用三点总结季度报告: Q3 2026 营收 1,234,567 元。' }],
};
const prefixes = useRedisPrefixes();

describe.each(['memory', 'sqlite', 'redis'])('a hard cost cap under concurrency (%s store)', (kind) => {
  it('150 concurrent calls, then waves until the cap admits no more: settled spend never passes the cap', async () => {
    // The stand-in reports the prompt's true token count and answers every token the call allows.
    const provider = await startProvider({ usage: honestUsage(1_000), behavior: () => ({ kind: 'delay', ms: 20 }) });
    onCleanup(() => provider.close());
    const reservation = reservationEstimate('gpt-4o-mini', body, createPricer({ overrides: prices })).cost;

    const store = kind === 'memory' ? 'memory' : kind === 'sqlite' ? `sqlite:${join(tempDir(), 'usage.db')}` : `${REDIS_URL}?prefix=${encodeURIComponent(prefixes())}`;
    const embedded = createEmbeddedFetch({ rules, store, prices, ledger: kind === 'redis' ? 'memory' : undefined });
    onCleanup(() => embedded.close());
    const openai = new OpenAI({ apiKey: PROVIDER_KEY, baseURL: provider.base, fetch: embedded, maxRetries: 0 });
    const call = () => openai.chat.completions.create(body, as({ org: 'acme', user: 'u' }));

    const results = await Promise.allSettled(Array.from({ length: 150 }, call));
    const answered = results.filter((r) => r.status === 'fulfilled').length;
    const blocked = results.filter((r) => r.status === 'rejected' && r.reason instanceof OpenAI.RateLimitError).length;
    expect(answered + blocked).toBe(150);
    expect(blocked).toBeGreaterThan(0);
    // Reservations, not settled spend, fill the cap while calls are in flight.
    expect(answered).toBeGreaterThanOrEqual(Math.floor(CAP / reservation));

    for (let wave = 0; wave < 50; wave++) {
      const more = await Promise.allSettled(Array.from({ length: 20 }, call));
      if (more.every((r) => r.status === 'rejected')) break;
    }

    await embedded.engine.flush();
    const rows = await embedded.engine.store.ledger({ fields: { org: 'acme' } });
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(provider.requests).toHaveLength(rows.filter((r) => r.status === 200).length);
    expect(settled).toBeLessThanOrEqual(CAP);
    // And the cap is used: what is left cannot hold one more call's bound.
    expect(settled).toBeGreaterThan(CAP - reservation);
    const month = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1);
    const counter = await embedded.engine.store.read('capped|cost|month|org=acme', 'cost', month, Date.now());
    expect(counter.reserved).toBe(0);
    expect(counter.used).toBeCloseTo(settled, 9);
  }, 60_000);
});
