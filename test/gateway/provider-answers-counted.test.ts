import { describe, expect, it } from 'vitest';
import { gatewayRig, hello } from './support.js';

const post = (url: string, headers: Record<string, string>, body: object) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });
// A fixed clock in the middle of a minute: the calls of a test never straddle two windows.
const now = () => Date.parse('2026-12-06T10:00:30Z');

describe('what the gateway charges for what the provider answered', () => {
  it('counts every call that reached the provider on a requests limit: 3 a minute, 8 calls the provider answers 400', async () => {
    const rules = { rules: [{ id: 'rate', if: {}, then: { limits: [{ type: 'requests', max: 3, window: 'minute', per: 'user' }] } }] };
    const rig = await gatewayRig({ rules, now }, { behavior: () => ({ kind: 'status', status: 400 }) });
    const headers = rig.headers({ 'x-tokenlay-user': 'eve' });
    const got: number[] = [];
    for (let i = 0; i < 8; i++) got.push((await post(rig.url, headers, hello)).status);
    expect(got).toEqual([400, 400, 400, 429, 429, 429, 429, 429]);
    expect(rig.chatCalls()).toBe(3);
  });

  it('charges a 200 answer whose body is cut off an estimate, flagged, and answers 502 provider_answer_cut_off', async () => {
    // A memory ledger: it keeps every field of the row as written.
    const rig = await gatewayRig({ store: 'memory' }, { behavior: () => ({ kind: 'cut', bytes: 100 }) });
    const answer = await post(rig.url, rig.headers({ 'x-tokenlay-user': 'cy' }), hello);
    expect(answer.status).toBe(502);
    expect(((await answer.json()) as any).error).toMatchObject({ code: 'provider_answer_cut_off' });
    expect(Number(answer.headers.get('x-tokenlay-cost'))).toBeGreaterThan(0);
    await rig.gateway.engine.flush();
    const [row] = await rig.gateway.store.ledger();
    expect(row).toMatchObject({ status: 502, estimated: true, estimateReason: 'body cut off' });
    expect(row!.inputTokens).toBeGreaterThan(0);
    expect(row!.outputTokens).toBeGreaterThan(0);
  });
});
