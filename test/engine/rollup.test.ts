import { describe, expect, it } from 'vitest';
import { getTokenlayUsage, runWithTokenlay, TokenlayOpenAI } from '../../src/index.js';
import { eventually } from '../support/gate.js';
import { startSlowStream } from './slow-stream.js';
import { hello, onCleanup, PROVIDER_KEY } from './support.js';

const prices = { 'gpt-4o-mini': { input: 1, output: 2 } };

describe('the per-request roll-up of a cancelled stream', () => {
  it('shows what was settled when the caller breaks out of for await at chunk 40', async () => {
    const slow = await startSlowStream({ chunks: 400, word: ' lorem', everyMs: 5 });
    onCleanup(() => slow.close());
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: slow.base, policy: { rules: [] }, store: 'memory', prices, maxRetries: 0 });
    onCleanup(() => openai.close());
    const usage = await runWithTokenlay({ user: 'rolf' }, async () => {
      const stream = await openai.chat.completions.create({ ...hello, stream: true });
      let chunks = 0;
      for await (const _ of stream) if (++chunks === 40) break;
      await slow.closedByClient;
      // The settlement is written as the stream is cancelled; the roll-up follows it.
      await eventually(() => getTokenlayUsage()?.calls === 1, 'the cancelled stream is in the roll-up');
      return { ...getTokenlayUsage()! };
    });
    expect(usage.calls).toBe(1);
    expect(usage.outputTokens).toBeGreaterThanOrEqual(39);
    expect(usage.inputTokens).toBeGreaterThan(0);
    expect(usage.cost).toBeCloseTo((usage.inputTokens * 1 + usage.outputTokens * 2) / 1e6, 12);
  });
});
