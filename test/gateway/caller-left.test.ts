import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { eventually, gate } from '../support/gate.js';
import { gatewayRig, hello } from './support.js';

describe('a caller who leaves a JSON call through the gateway', () => {
  it('is settled at the usage the provider reported, not the reservation', async () => {
    const answer = gate();
    let received = () => {};
    const rig = await gatewayRig({}, { behavior: () => (received(), { kind: 'hold', until: answer.until }) });
    const controller = new AbortController();
    const sent = new Promise<void>((r) => (received = r));
    const call = fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ 'x-tokenlay-user': 'ann' }), body: JSON.stringify(hello), signal: controller.signal });
    await sent;
    controller.abort();
    await expect(call).rejects.toThrow();
    // The gateway has seen the socket close (the call no longer in flight) before the provider answers.
    await eventually(() => rig.gateway.inFlight === 0, 'the gateway saw the caller leave');
    answer.open();
    await eventually(async () => (await rig.gateway.store.ledger()).length > 0, 'the abandoned call has a ledger row');
    const [row] = await rig.gateway.store.ledger();
    expect(row).toMatchObject({ status: 499, inputTokens: 10, outputTokens: 5, estimated: false, fields: { user: 'ann' } });
    expect(row!.cost).toBeCloseTo(calcPrice({ input_tokens: 10, output_tokens: 5 }, 'gpt-4o-mini')!.total_price, 12);
  });

  it('gives up a stream left before its first byte once the provider answers: its input charged, flagged caller left', async () => {
    const answer = gate();
    let received = () => {};
    // A memory ledger: it keeps every field of the row as written.
    const rig = await gatewayRig({ store: 'memory' }, { behavior: () => (received(), { kind: 'hold', until: answer.until }) });
    const controller = new AbortController();
    const sent = new Promise<void>((r) => (received = r));
    const call = fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ 'x-tokenlay-user': 'bo' }), body: JSON.stringify({ ...hello, stream: true }), signal: controller.signal });
    await sent;
    controller.abort();
    await expect(call).rejects.toThrow();
    await eventually(() => rig.gateway.inFlight === 0, 'the gateway saw the caller leave');
    answer.open();
    await eventually(async () => (await rig.gateway.store.ledger()).length > 0, 'the abandoned stream has a ledger row');
    const [row] = await rig.gateway.store.ledger();
    expect(row).toMatchObject({ status: 499, outputTokens: 0, estimated: true, estimateReason: 'caller left', fields: { user: 'bo' } });
    expect(row!.inputTokens).toBeGreaterThan(0);
  });
});
