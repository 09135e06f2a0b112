// Run budgets and rolling windows on Redis counters, as several instances share them.
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/embedded.js';
import { formatRunBudgets } from '../../src/protocol/run-budget.js';
import { startProvider } from '../support/provider.js';
import { REDIS_URL, useRedisPrefixes } from '../store/services.js';
import { honestUsage, onCleanup } from './support.js';

const prefix = useRedisPrefixes();

describe('budgets on Redis counters', () => {
  it('holds a run budget across two engines sharing Redis, under 20 parallel calls', async () => {
    const provider = await startProvider(honestUsage);
    onCleanup(() => provider.close());
    const store = `${REDIS_URL}?prefix=${encodeURIComponent(prefix())}`;
    const engines = [createEmbeddedFetch({ store }), createEmbeddedFetch({ store })];
    onCleanup(() => Promise.all(engines.map((e) => e.close())).then(() => undefined));
    const run = formatRunBudgets([{ id: 'run_shared', cost: 0.005 }]);
    const clients = engines.map((fetch) => new OpenAI({ apiKey: 'sk-redis', baseURL: provider.base, fetch, maxRetries: 0, defaultHeaders: { 'x-tokenlay-user': 'ann', 'x-tokenlay-run-budget': run } }));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => clients[i % 2]!.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 }).withResponse()),
    );
    const costs = results.flatMap((r) => (r.status === 'fulfilled' ? [Number(r.value.response.headers.get('x-tokenlay-cost'))] : []));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as InstanceType<typeof OpenAI.APIError>);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((e) => e.status === 429 && (e.error as any).tokenlay.limit.type === 'run')).toBe(true);
    expect(Math.round(costs.reduce((a, b) => a + b, 0) * 1e10) / 1e10).toBeLessThanOrEqual(0.005);
    const budget = await engines[1]!.engine.budget({ user: 'ann' }, [{ id: 'run_shared', cost: 0.005 }]);
    expect(budget).toHaveLength(1);
    expect(budget[0]!.used).toBe(Math.round(costs.reduce((a, b) => a + b, 0) * 1e10) / 1e10);
  });

  it('counts a rolling window from the earlier hours kept in Redis', async () => {
    const provider = await startProvider(honestUsage);
    onCleanup(() => provider.close());
    let now = Date.parse('2026-02-28T22:10:00Z');
    const store = `${REDIS_URL}?prefix=${encodeURIComponent(prefix())}`;
    const rules = { rules: [{ id: 'day', if: {}, then: { limits: [{ type: 'requests', max: 2, window: 'last_24h', per: 'user' }] } }] };
    const engine = createEmbeddedFetch({ rules, store, now: () => now });
    onCleanup(() => engine.close());
    const openai = new OpenAI({ apiKey: 'sk-redis', baseURL: provider.base, fetch: engine, maxRetries: 0, defaultHeaders: { 'x-tokenlay-user': 'ann' } });
    const call = () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await call();
    now = Date.parse('2026-03-01T09:00:00Z');
    await call();
    await expect(call()).rejects.toMatchObject({ status: 429 });
    now = Date.parse('2026-03-01T23:00:00Z');
    await expect(call()).resolves.toBeDefined();
  });
});
