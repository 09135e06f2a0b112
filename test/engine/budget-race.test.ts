import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { createPricer, reservationEstimate } from '../../src/metering/index.js';
import { startProvider } from '../support/provider.js';
import { as, onCleanup, PROVIDER_KEY, tempDir } from './support.js';

const CAP = 50;
const rules = { rules: [{ id: 'capped', if: {}, then: { limits: [{ type: 'cost', max: CAP, window: 'month', per: 'org' }] } }] };
// $0.10 per input token and $0.20 per output token make each call cost dollars, so the cap bites.
const prices = { 'gpt-4o-mini': { input: 100_000, output: 200_000 } };
const body = {
  model: 'gpt-4o-mini',
  max_tokens: 5,
  messages: [{ role: 'user' as const, content: 'Please summarise the attached quarterly report in three short bullet points.' }],
};

describe.each(['memory', 'sqlite'])('a hard cost cap under concurrency (%s store)', (kind) => {
  it('lets 200 concurrent calls settle at most one reservation over the cap', async () => {
    // The stand-in reports 10 input and 5 output tokens: $2.00 per call, within the reservation.
    const provider = await startProvider({ usage: { prompt: 10, completion: 5 }, behavior: () => ({ kind: 'delay', ms: 20 }) });
    onCleanup(() => provider.close());
    const reservation = reservationEstimate('gpt-4o-mini', body, createPricer({ overrides: prices })).cost;
    expect(reservation).toBeGreaterThanOrEqual(2);

    const store = kind === 'memory' ? 'memory' : `sqlite:${join(tempDir(), 'usage.db')}`;
    const embedded = createEmbeddedFetch({ rules, store, prices });
    onCleanup(() => embedded.close());
    const openai = new OpenAI({ apiKey: PROVIDER_KEY, baseURL: provider.base, fetch: embedded, maxRetries: 0 });

    const results = await Promise.allSettled(Array.from({ length: 200 }, () => openai.chat.completions.create(body, as({ org: 'acme', user: 'u' }))));
    const answered = results.filter((r) => r.status === 'fulfilled').length;
    const blocked = results.filter((r) => r.status === 'rejected' && r.reason instanceof OpenAI.RateLimitError).length;
    expect(answered + blocked).toBe(200);
    expect(blocked).toBeGreaterThan(0);

    // Then waves of concurrent calls as room frees, until the cap admits no more.
    const call = () => openai.chat.completions.create(body, as({ org: 'acme', user: 'u' }));
    for (let wave = 0; wave < 50; wave++) {
      const more = await Promise.allSettled(Array.from({ length: 20 }, call));
      if (more.every((r) => r.status === 'rejected')) break;
    }

    await embedded.engine.flush();
    const rows = await embedded.engine.store.ledger({ fields: { org: 'acme' } });
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    // Reservations, not settled spend, fill the cap while calls are in flight: at least as many
    // calls of the first wave are admitted as reservations fit under the cap.
    expect(answered).toBeGreaterThanOrEqual(Math.floor(CAP / reservation));
    expect(provider.requests).toHaveLength(rows.filter((r) => r.status === 200).length);
    expect(settled).toBeGreaterThanOrEqual(CAP);
    expect(settled).toBeLessThanOrEqual(CAP + reservation);
    const month = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1);
    const counter = await embedded.engine.store.read('capped|cost|month|org=acme', 'cost', month, Date.now());
    expect(counter.reserved).toBe(0);
    expect(counter.used).toBeCloseTo(settled, 9);
  });
});
