import { describe, expect, it } from 'vitest';
import { getTokenlayMetadata, runWithTokenlay, TokenlayLimitError, TokenlayOpenAI } from '../../src/index.js';
import { startProvider } from '../support/provider.js';
import { hello, onCleanup, PROVIDER_KEY } from './support.js';

const rules = { rules: [{ id: 'free-tier', if: { tier: 'free' }, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] } }] };

describe('TokenlayOpenAI in embedded mode', () => {
  it('meters through the engine, sends the provider its key, and turns a block into a TokenlayLimitError', async () => {
    const provider = await startProvider();
    onCleanup(() => provider.close());
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy: rules, store: 'memory', maxRetries: 0 });
    await runWithTokenlay({ user: 'fay', tier: 'free' }, async () => {
      const completion = await openai.chat.completions.create(hello);
      expect(getTokenlayMetadata(completion)).toMatchObject({ ruleId: 'free-tier', ruleAction: 'allow', inputTokens: 10, outputTokens: 5 });
      const error = await openai.chat.completions.create(hello).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenlayLimitError);
      expect((error as TokenlayLimitError).limit).toMatchObject({ type: 'requests', window: 'day', max: 1, current: 1 });
    });
    expect(provider.requests).toHaveLength(1);
    expect(provider.requests[0]!.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });
});
