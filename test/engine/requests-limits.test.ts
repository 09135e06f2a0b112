import { describe, expect, it } from 'vitest';
import { as, hello, rig } from './support.js';

// A fixed clock in the middle of a minute: the calls of a test never straddle two windows.
const now = () => Date.parse('2026-12-06T10:00:30Z');
const perMinute = (type: string, max: number) => ({ rules: [{ id: 'rate', if: {}, then: { limits: [{ type, max, window: 'minute', per: 'user' }] } }] });

async function statuses(openai: Awaited<ReturnType<typeof rig>>['openai'], user: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await openai.chat.completions.create(hello, as({ user })).then(
        () => 200,
        (e: { status?: number }) => e.status ?? 0,
      ),
    );
  }
  return out;
}

describe('requests limits count every call that reached the provider, whatever it answered', () => {
  it('lets 3 of 8 calls a minute through when the provider answers each 400', async () => {
    const { openai, chatCalls } = await rig({ rules: perMinute('requests', 3), store: 'memory', now }, { behavior: () => ({ kind: 'status', status: 400 }) });
    expect(await statuses(openai, 'eve', 8)).toEqual([400, 400, 400, 429, 429, 429, 429, 429]);
    expect(chatCalls()).toBe(3);
  });

  it('counts 429 and 5xx answers of the provider too', async () => {
    let n = 0;
    const { openai, chatCalls } = await rig({ rules: perMinute('requests', 3), store: 'memory', now }, { behavior: () => ({ kind: 'status', status: ++n % 2 ? 429 : 503 }) });
    expect(await statuses(openai, 'fay', 5)).toEqual([429, 503, 429, 429, 429]);
    expect(chatCalls()).toBe(3);
  });

  it('does not count a call that never reached the provider (unreachable)', async () => {
    const { createEmbeddedFetch } = await import('../../src/engine/index.js');
    const embedded = createEmbeddedFetch({ rules: perMinute('requests', 1), store: 'memory', now });
    try {
      const call = () => embedded('http://127.0.0.1:9/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', ...as({ user: 'gus' }).headers }, body: JSON.stringify(hello) });
      expect((await call()).status).toBe(502);
      expect((await call()).status).toBe(502);
    } finally {
      await embedded.close();
    }
  });

  it('keeps cost and token limits to what was billed: refused calls spend none of them', async () => {
    const rules = { rules: [{ id: 'spend', if: {}, then: { limits: [{ type: 'tokens', max: 2000, window: 'minute', per: 'user' }, { type: 'cost', max: 0.01, window: 'minute', per: 'user' }] } }] };
    const { openai, chatCalls, fetch } = await rig({ rules, store: 'memory', now }, { behavior: () => ({ kind: 'status', status: 400 }) });
    expect(await statuses(openai, 'hal', 8)).toEqual(Array(8).fill(400));
    expect(chatCalls()).toBe(8);
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger()).every((r) => r.cost === 0 && r.inputTokens + r.outputTokens === 0)).toBe(true);
  });
});
