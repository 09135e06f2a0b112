import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/embedded.js';
import { startProvider, type Provider } from '../support/provider.js';
import { startReceiver } from './receiver.js';

let provider: Provider;
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  await provider?.close();
});

describe('warn_at at several thresholds', () => {
  it('sends each threshold’s webhook once per window, under concurrent calls, and again in the next window', async () => {
    const receiver = await startReceiver();
    let now = Date.UTC(2026, 10, 30, 12);
    const rules = {
      version: '0.1',
      rules: [
        {
          id: 'daily-cap',
          if: {},
          then: {
            limits: [{ type: 'requests', max: 40, window: 'day', per: 'user', warn_at: [0.5, 0.8, 0.95] }],
            on_limit_exceeded: { action: 'block', notify: [{ type: 'webhook', url: `${receiver.url}/hook` }] },
          },
        },
      ],
    };
    const embedded = createEmbeddedFetch({ rules, store: 'memory', now: () => now });
    const openai = new OpenAI({ apiKey: 'sk-alerts', baseURL: provider.base, fetch: embedded, maxRetries: 0, defaultHeaders: { 'x-tokenlay-user': 'alice' } });
    const burst = (n: number) =>
      Promise.all(Array.from({ length: n }, () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })));
    const crossed = () => receiver.received.filter((r) => r.body.event === 'tokenlay.limit.threshold_crossed').map((r) => r.body.limit.warn_at);
    try {
      await burst(19);
      await embedded.engine.alerts!.idle();
      expect(crossed()).toEqual([]);
      await burst(12); // 31 of 40 (77.5 %): past 50 %, below 80 %
      await embedded.engine.alerts!.idle();
      expect(crossed()).toEqual([0.5]);
      await burst(8); // 39 of 40: past 80 % and 95 %
      await embedded.engine.alerts!.idle();
      expect(crossed().sort()).toEqual([0.5, 0.8, 0.95]);
      await burst(1);
      await embedded.engine.alerts!.idle();
      expect(crossed()).toHaveLength(3);
      // The next day is a new window: each threshold speaks once more.
      now += 86_400_000;
      await burst(40);
      await embedded.engine.alerts!.idle();
      expect(crossed().sort()).toEqual([0.5, 0.5, 0.8, 0.8, 0.95, 0.95]);
    } finally {
      await embedded.close();
      await receiver.close();
    }
  });
});
