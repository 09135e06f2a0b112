import { getTokenlayMetadata, TokenlayOpenAI } from 'tokenlay';
import { describe, expect, it } from 'vitest';
import { honestUsage } from '../support/honest-usage.js';
import { gatewayRig, PROVIDER_KEY } from './support.js';

const monthly = { rules: [{ id: 'monthly', if: {}, then: { limits: [{ type: 'cost', max: 0.05, window: 'month', per: 'user' }] } }] };

describe('a cost cap through the gateway', () => {
  it('lowers the output limit of a call that would pass it, and the client reads the limit and the warning from its metadata', async () => {
    const rig = await gatewayRig({ rules: monthly }, { usage: honestUsage(30_000) });
    const client = (user: string) =>
      new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: rig.provider.base, tokenlayKey: rig.key, tokenlayBaseUrl: rig.url, metadata: { user }, maxRetries: 0 });
    const completion = await client('ola').chat.completions.create({ model: 'o4-mini', messages: [{ role: 'user', content: 'Write a long essay.' }] });
    const sent = rig.provider.requests[0]!.body.max_completion_tokens;
    expect(sent).toBeGreaterThan(16);
    expect(sent).toBeLessThan(30_000);
    const meta = getTokenlayMetadata(completion)!;
    expect(meta.outputLimit).toBe(sent);
    expect(meta.cost).toBeLessThanOrEqual(0.05);
    expect(meta.warnings).toEqual([expect.stringMatching(new RegExp(`^rule "monthly": max_completion_tokens lowered to ${sent} so that this call cannot pass \\$0\\.05 per month per user`))]);

    // A stream (another user: ola's cap is spent): the limit in its headers, read back once it has ended.
    const stream = await client('sue').chat.completions.create({ model: 'o4-mini', messages: [{ role: 'user', content: 'And another.' }], stream: true });
    for await (const chunk of stream) void chunk;
    expect(getTokenlayMetadata(stream)?.outputLimit).toBe(rig.provider.requests[1]!.body.max_completion_tokens);
    await rig.gateway.engine.flush();
    for (const user of ['ola', 'sue']) {
      const rows = await rig.gateway.engine.store.ledger({ fields: { user } });
      expect(rows.reduce((sum, r) => sum + r.cost, 0)).toBeLessThanOrEqual(0.05);
    }
  });
});
