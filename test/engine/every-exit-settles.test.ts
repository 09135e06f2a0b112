import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { onCleanup } from './support.js';

const oneAtATime = { rules: [{ id: 'one', if: {}, then: { limits: [{ type: 'concurrent', max: 1, per: 'user' }] } }] };
const streamed = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
const call = (engine: ReturnType<typeof createEngine>) =>
  engine.handle({ url: 'http://provider.test/v1/chat/completions', method: 'POST', headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer sk-test', 'x-tokenlay-user': 'ana' }), body: streamed });

describe('a call that fails inside the engine after admission', () => {
  it('is settled once, so its concurrent slot is freed and the ledger has it', async () => {
    // A provider answer no stage expects (an event stream with no body) makes the engine throw
    // after the call was admitted and sent.
    const engine = createEngine({ rules: oneAtATime, store: 'memory', fetch: async () => new Response(null, { status: 200, headers: { 'content-type': 'text/event-stream' } }) });
    onCleanup(() => engine.close());
    await expect(call(engine)).rejects.toThrow();
    await engine.flush();
    const rows = await engine.store.ledger();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 499, estimated: true });
    // Before, the reservation was renewed for as long as the process lived: every later call was a 429.
    await expect(call(engine)).rejects.toThrow();
    await engine.flush();
    expect((await engine.store.ledger()).map((r) => r.status)).toEqual([499, 499]);
  });
});
