/** Streams the provider breaks off or stops sending, through the gateway's own hop to the provider. */
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/gate.js';
import { gatewayRig, hello } from './support.js';

const chunk = (content: string) => ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content }, finish_reason: null }] });

describe('a provider stream through the gateway', () => {
  it('that the provider breaks off reaches the caller as far as it came, and is settled once, as an estimate', async () => {
    const rig = await gatewayRig({ store: 'memory' }, { behavior: (r) => (r.body?.stream ? { kind: 'events', events: ['Revenue ', 'up, ', 'costs '].map((c) => ({ data: chunk(c) })), cut: true } : undefined) });
    const res = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ 'x-tokenlay-user': 'cy' }), body: JSON.stringify({ ...hello, stream: true }) });
    expect(res.status).toBe(200);
    const text = await res.text().catch((err: Error) => `(cut: ${err.message})`);
    expect(text).toContain('Revenue ');
    await eventually(async () => (await rig.gateway.store.ledger()).length > 0, 'the broken stream has a ledger row');
    await rig.gateway.engine.flush();
    const rows = await rig.gateway.store.ledger();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 200, estimated: true, fields: { user: 'cy' } });
    expect(rows[0]!.outputTokens).toBeGreaterThan(0);
  });

  it('that stops moving is ended after the stream idle timeout with a comment saying so, and settled', async () => {
    const rig = await gatewayRig({ store: 'memory', streamIdleTimeoutMs: 300 }, { behavior: (r) => (r.body?.stream ? { kind: 'stream-stall', chunks: 1 } : undefined) });
    const res = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ 'x-tokenlay-user': 'di' }), body: JSON.stringify({ ...hello, stream: true }) });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('word0 ');
    expect(text).toContain(': tokenlay: the provider sent nothing for 300 ms; the stream was ended');
    await eventually(async () => (await rig.gateway.store.ledger()).length > 0, 'the stalled stream has a ledger row');
    const rows = await rig.gateway.store.ledger();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 200, estimated: true, fields: { user: 'di' } });
  });
});
