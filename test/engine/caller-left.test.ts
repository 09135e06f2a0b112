import { join } from 'node:path';
import { calcPrice } from '@pydantic/genai-prices';
import { APIUserAbortError } from 'openai';
import { describe, expect, it } from 'vitest';
import { runWithTokenlay, TokenlayOpenAI } from '../../src/index.js';
import { createStore } from '../../src/store/index.js';
import { gate } from '../support/gate.js';
import { startProvider } from '../support/provider.js';
import { as, hello, onCleanup, PROVIDER_KEY, rig, tempDir } from './support.js';

const real = (input: number, output: number) => calcPrice({ input_tokens: input, output_tokens: output }, 'gpt-4o-mini')!.total_price;

describe('a caller who leaves a JSON call after it was sent (embedded)', () => {
  it('gets its abort at once, and the call is settled at the usage the provider then reports, not the reservation', async () => {
    const answer = gate();
    let received = () => {};
    const { openai, fetch, provider } = await rig(
      { store: 'memory' },
      {
        behavior: () => {
          received();
          return { kind: 'hold', until: answer.until };
        },
      },
    );
    const controller = new AbortController();
    // Once the provider has the call, while it is still answering, the caller leaves.
    received = () => setImmediate(() => controller.abort());
    await expect(openai.chat.completions.create(hello, { ...as({ user: 'ann' }), signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
    // The caller had its abort before the provider answered; the provider answers now.
    answer.open();
    await fetch.engine.flush();
    const rows = await fetch.engine.store.ledger();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 499, inputTokens: 10, outputTokens: 5, estimated: false, fields: { user: 'ann' } });
    expect(rows[0]!.cost).toBeCloseTo(real(10, 5), 12);
    expect(rows[0]!.cost).toBeLessThan(0.00001);
    expect(provider.requests).toHaveLength(1);
  });

  it('frees a cost cap for the calls after it: ten abandoned calls settle at what they cost, and the eleventh is admitted', async () => {
    // $0.01 a day: the 4,096-token reservation of each call ($0.0024594) would fill it after four.
    const rules = { rules: [{ id: 'budget', if: {}, then: { limits: [{ type: 'cost', max: 0.01, window: 'day', per: 'user' }] } }] };
    // The provider answers each call only once its caller has left.
    let leave = (): Promise<void> => Promise.resolve();
    const { openai, fetch } = await rig({ rules, store: 'memory' }, { behavior: () => ({ kind: 'hold', until: leave() }) });
    for (let i = 0; i < 10; i++) {
      const controller = new AbortController();
      leave = () => new Promise<void>((resolve) => setImmediate(() => (controller.abort(), resolve())));
      await expect(openai.chat.completions.create(hello, { ...as({ user: 'bo' }), signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
      await fetch.engine.flush();
    }
    leave = () => Promise.resolve();
    const done = await openai.chat.completions.create(hello, as({ user: 'bo' }));
    expect(done.choices[0]!.message.content).toBe('hello anonymous');
    const rows = await fetch.engine.store.ledger();
    expect(rows.map((r) => r.status)).toEqual([...Array(10).fill(499), 200]);
    for (const row of rows) expect(row).toMatchObject({ outputTokens: 5, estimated: false });
  });

  it('is settled as the provider answered when the provider refuses it after the caller left: nothing billed', async () => {
    const answer = gate();
    let received = () => {};
    const { openai, fetch } = await rig(
      { store: 'memory' },
      {
        behavior: () => {
          received();
          return { kind: 'hold', until: answer.until, then: { kind: 'status', status: 400 } };
        },
      },
    );
    const controller = new AbortController();
    received = () => setImmediate(() => controller.abort());
    await expect(openai.chat.completions.create(hello, { signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
    answer.open();
    await fetch.engine.flush();
    const rows = await fetch.engine.store.ledger();
    expect(rows).toEqual([expect.objectContaining({ status: 499, estimated: false, inputTokens: 0, outputTokens: 0, cost: 0 })]);
  });

  it('is the same through TokenlayOpenAI in embedded mode: the abort at once, the reported usage in the ledger', async () => {
    const answer = gate();
    let received = () => {};
    const provider = await startProvider({ behavior: () => (received(), { kind: 'hold', until: answer.until }) });
    onCleanup(() => provider.close());
    const path = join(tempDir(), 'usage.db');
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, store: `sqlite:${path}`, maxRetries: 0 });
    const controller = new AbortController();
    received = () => setImmediate(() => controller.abort());
    await runWithTokenlay({ user: 'kim' }, async () => {
      await expect(openai.chat.completions.create(hello, { signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
    });
    answer.open();
    // close() waits for the abandoned call to be answered and settled.
    await openai.close();
    const store = createStore(`sqlite:${path}`);
    try {
      expect(await store.ledger()).toEqual([expect.objectContaining({ status: 499, inputTokens: 10, outputTokens: 5, estimated: false, fields: { user: 'kim' } })]);
    } finally {
      await store.close();
    }
  });

  it('gives up a stream whose caller left before its first byte, charged its input only, flagged caller left', async () => {
    const answer = gate();
    let received = () => {};
    const { openai, fetch, provider } = await rig({ store: 'memory' }, { behavior: () => (received(), { kind: 'hold', until: answer.until }) });
    const controller = new AbortController();
    received = () => setImmediate(() => controller.abort());
    await expect(openai.chat.completions.create({ ...hello, stream: true }, { signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
    answer.open();
    await fetch.engine.flush();
    const [row] = await fetch.engine.store.ledger();
    expect(row).toMatchObject({ status: 499, outputTokens: 0, estimated: true, estimateReason: 'caller left' });
    expect(row!.inputTokens).toBeGreaterThan(0);
    expect(row!.cost).toBeCloseTo(real(row!.inputTokens, 0), 12);
    expect(provider.requests).toHaveLength(1);
  });
});
