import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { as, hello, rig, warningsHeader } from './support.js';

const withFallback = { rules: [{ id: 'resilient', if: {}, then: { fallbacks: ['gpt-4o'] } }] };

describe('a 2xx answer whose JSON body is cut off', () => {
  it('is charged an estimate and flagged body cut off when the connection breaks mid-body, and never sent again', async () => {
    const { openai, fetch, provider } = await rig({ rules: withFallback, store: 'memory' }, { behavior: () => ({ kind: 'cut', bytes: 120 }) });
    const error = (await openai.chat.completions.create({ ...hello, max_tokens: 300 }, as({ user: 'cy' })).catch((e: unknown) => e)) as any;
    expect(error.status).toBe(502);
    expect(error.error).toMatchObject({ type: 'tokenlay_provider_error', code: 'provider_answer_cut_off' });
    expect(error.message).toContain('cut off');
    expect(warningsHeader(new Response(null, { headers: error.headers }))).toEqual([expect.stringContaining("usage estimated: the provider's answer was cut off")]);
    // The provider billed the call: it is not sent to the fallback model.
    expect(provider.requests).toHaveLength(1);
    await fetch.engine.flush();
    const [row] = await fetch.engine.store.ledger();
    expect(row).toMatchObject({ status: 502, estimated: true, estimateReason: 'body cut off', fields: { user: 'cy' } });
    expect(row!.inputTokens).toBeGreaterThan(0);
    expect(row!.outputTokens).toBeGreaterThan(0);
    expect(row!.outputTokens).toBeLessThanOrEqual(300);
    expect(row!.cost).toBeCloseTo(calcPrice({ input_tokens: row!.inputTokens, output_tokens: row!.outputTokens }, 'gpt-4o-mini')!.total_price, 12);
  });

  it('is charged an estimate and flagged when the whole body arrived but its JSON stops short', async () => {
    const { openai, fetch } = await rig({ store: 'memory' }, { behavior: () => ({ kind: 'cut', bytes: 150, drop: false }) });
    // The answer goes to the caller as it came; the SDK cannot parse it.
    await expect(openai.chat.completions.create(hello)).rejects.toThrow();
    await fetch.engine.flush();
    const [row] = await fetch.engine.store.ledger();
    expect(row).toMatchObject({ status: 200, estimated: true, estimateReason: 'body cut off' });
    expect(row!.inputTokens).toBeGreaterThan(0);
    expect(row!.outputTokens).toBeGreaterThan(0);
    expect(row!.cost).toBeGreaterThan(0);
  });

  it('is charged an estimate when the rest of the body never comes within providerTimeoutMs', async () => {
    const { openai, fetch, provider } = await rig({ rules: withFallback, store: 'memory', providerTimeoutMs: 500 }, { behavior: () => ({ kind: 'cut', bytes: 120, drop: 'stall' }) });
    const error = (await openai.chat.completions.create(hello).catch((e: unknown) => e)) as any;
    expect(error.status).toBe(502);
    expect(error.error).toMatchObject({ code: 'provider_answer_cut_off' });
    expect(error.message).toContain('no more of it within 500 ms');
    expect(provider.requests).toHaveLength(1);
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger())[0]).toMatchObject({ status: 502, estimated: true, estimateReason: 'body cut off' });
  });

  it('counts a cut answer on cost and token caps', async () => {
    const rules = { rules: [{ id: 'tokens', if: {}, then: { limits: [{ type: 'tokens', max: 1_000_000, window: 'day', per: 'user' }] } }] };
    const { openai, fetch } = await rig({ rules, store: 'memory' }, { behavior: () => ({ kind: 'cut', bytes: 60 }) });
    await openai.chat.completions.create(hello, as({ user: 'di' })).catch(() => undefined);
    await fetch.engine.flush();
    const [row] = await fetch.engine.store.ledger();
    const { used, reserved } = await fetch.engine.store.read('tokens|tokens|day|user=di', 'tokens', Math.floor(Date.now() / 86_400_000) * 86_400_000, Date.now());
    expect(reserved).toBe(0);
    expect(used).toBe(row!.inputTokens + row!.outputTokens);
    expect(used).toBeGreaterThan(0);
  });
});
