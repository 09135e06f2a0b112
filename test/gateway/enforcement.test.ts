import { join } from 'node:path';
import OpenAI from 'openai';
import { TokenlayLimitError, TokenlayOpenAI, decodeHeaderValue, getTokenlayMetadata } from 'tokenlay';
import { describe, expect, it } from 'vitest';
import { createGateway, createLogger } from '../../src/gateway/index.js';
import { captureLog, gatewayRig, hello, onCleanup, PROVIDER_KEY } from './support.js';

const dailyCap = (max: number) => ({ rules: [{ id: 'daily-cap', if: {}, then: { limits: [{ type: 'requests', max, window: 'day', per: 'user' }] } }] });
const post = (url: string, headers: Record<string, string>, body: object) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });

describe('enforcement through the gateway, end to end', () => {
  it('answers a daily request cap with 429, x-should-retry: false and retry-after', async () => {
    const rig = await gatewayRig({ rules: dailyCap(2) });
    const as = rig.headers({ 'x-tokenlay-user': 'ann' });
    expect((await post(rig.url, as, hello)).status).toBe(200);
    expect((await post(rig.url, as, hello)).status).toBe(200);
    const blocked = await post(rig.url, as, hello);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('x-should-retry')).toBe('false');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(blocked.headers.get('x-tokenlay-rule-action')).toBe('block');
    expect(blocked.headers.get('x-tokenlay-limit-exceeded')).toBe('true');
    const { error } = (await blocked.json()) as any;
    expect(error).toMatchObject({ type: 'tokenlay_limit_exceeded', code: 'limit_exceeded', tokenlay: { rule_id: 'daily-cap', limit: { type: 'requests', window: 'day', max: 2 } } });
    expect(rig.chatCalls()).toBe(2);
    // Another user of the same account has their own counter.
    expect((await post(rig.url, rig.headers({ 'x-tokenlay-user': 'bob' }), hello)).status).toBe(200);
  });

  it('answers a downgrade from the cheaper model and says so', async () => {
    const rules = {
      rules: [{ id: 'pro', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }], on_limit_exceeded: { action: 'downgrade', downgrade_to: 'gpt-4o-mini' } } }],
    };
    const rig = await gatewayRig({ rules });
    const as = rig.headers({ 'x-tokenlay-user': 'ann' });
    const first = await post(rig.url, as, { ...hello, model: 'gpt-4o' });
    expect(((await first.json()) as any).model).toBe('gpt-4o');
    const second = await post(rig.url, as, { ...hello, model: 'gpt-4o' });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-tokenlay-model')).toBe('gpt-4o-mini');
    expect(((await second.json()) as any).model).toBe('gpt-4o-mini');
    expect(rig.provider.requests.map((r) => r.body.model)).toEqual(['gpt-4o', 'gpt-4o-mini']);
  });

  it('sends warnings as they arise', async () => {
    const rules = { rules: [{ id: 'soft', if: {}, then: { limits: [{ type: 'requests', max: 4, window: 'month', per: 'user', warn_at: 0.5 }] } }] };
    const rig = await gatewayRig({ rules });
    const as = rig.headers({ 'x-tokenlay-user': 'ann' });
    expect((await post(rig.url, as, hello)).headers.get('x-tokenlay-warnings')).toBeNull();
    const warned = await post(rig.url, as, hello);
    expect((JSON.parse(warned.headers.get('x-tokenlay-warnings')!) as string[]).map(decodeHeaderValue)).toEqual([expect.stringContaining('50% of the limit reached')]);
  });

  it('keeps counted usage across a restart of the gateway', async () => {
    const rig = await gatewayRig({ rules: dailyCap(2) });
    const as = rig.headers({ 'x-tokenlay-user': 'ann' });
    await post(rig.url, as, hello);
    await post(rig.url, as, hello);
    await rig.gateway.close();

    const { stream } = captureLog();
    const again = createGateway({ rules: dailyCap(2), store: `sqlite:${join(rig.dir, 'usage.db')}`, keys: join(rig.dir, 'usage.db'), allowProviderBases: [rig.provider.base], logger: createLogger({ destination: stream }) });
    onCleanup(() => again.close());
    const { url } = await again.listen(0);
    const blocked = await post(url, as, hello);
    expect(blocked.status).toBe(429);
    expect(rig.chatCalls()).toBe(2);
    const usage = (await (await fetch(`${url}/v1/usage?group_by=user`, { headers: { authorization: as.authorization! } })).json()) as any;
    expect(usage.data).toEqual([{ user: 'ann', requests: 3, input_tokens: 20, output_tokens: 10, cost: expect.any(Number) }]);
  });

  it('gives our TokenlayOpenAI in remote mode a TokenlayLimitError after one attempt', async () => {
    const rig = await gatewayRig({ rules: dailyCap(1) });
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: rig.provider.base, tokenlayKey: rig.key, tokenlayBaseUrl: rig.url, metadata: { user: 'ann' }, maxRetries: 3 });
    const completion = await openai.chat.completions.create(hello);
    expect(getTokenlayMetadata(completion)).toMatchObject({ ruleId: 'daily-cap', ruleAction: 'allow', inputTokens: 10, outputTokens: 5, tokensUsed: 15 });
    const before = rig.log.lines().filter((l) => l.msg === 'call').length;
    const err = await openai.chat.completions.create(hello).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenlayLimitError);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as TokenlayLimitError).ruleId).toBe('daily-cap');
    await rig.gateway.engine.flush();
    const calls = rig.log.lines().filter((l) => l.msg === 'call').slice(before);
    expect(calls.map((l) => l.status)).toEqual([429]);
    expect(rig.chatCalls()).toBe(1);
  });
});
