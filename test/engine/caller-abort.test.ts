import { APIUserAbortError } from 'openai';
import { describe, expect, it } from 'vitest';
import { as, hello, manualClock, rig } from './support.js';

const twoADay = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 2, window: 'day', per: 'user' }] } }] };

describe('a caller who aborts after the provider got the call', () => {
  it('is settled: six calls aborted after the provider got them and before it answered count, and the third is refused before the provider', async () => {
    // Each call is aborted once the provider has it; the provider answers only after the abort.
    let abortCurrent = () => {};
    const { openai, chatCalls, fetch } = await rig(
      { rules: twoADay, store: 'memory' },
      {
        behavior: () => {
          const abort = abortCurrent;
          const aborted = new Promise<void>((resolve) =>
            setImmediate(() => {
              abort();
              resolve();
            }),
          );
          return { kind: 'hold', until: aborted };
        },
      },
    );
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const controller = new AbortController();
      abortCurrent = () => controller.abort();
      try {
        await openai.chat.completions.create({ ...hello, max_tokens: 50 }, { ...as({ user: 'eve' }), signal: controller.signal });
        outcomes.push('answered');
      } catch (err) {
        outcomes.push(err instanceof APIUserAbortError ? 'aborted' : (err as { status?: number }).status === 429 ? 'refused' : String(err));
      }
    }
    expect(outcomes).toEqual(['aborted', 'aborted', 'refused', 'refused', 'refused', 'refused']);
    expect(chatCalls()).toBe(2);
    await fetch.engine.flush();
    const rows = (await fetch.engine.store.ledger()).filter((r) => r.status === 499);
    expect(rows).toHaveLength(2);
    // The provider was read to its end after the caller left: the usage it reported is billed.
    for (const row of rows) {
      expect(row).toMatchObject({ estimated: false, inputTokens: 10, outputTokens: 5 });
      expect(row.cost).toBeGreaterThan(0);
    }
  });

  it('is released, not counted, when it aborts before the provider is called (while queued)', async () => {
    const rules = { rules: [{ id: 'one', if: {}, then: { action: 'queue', limits: [{ type: 'concurrent', max: 1, per: 'user' }], on_limit_exceeded: { action: 'queue', delay_seconds: 5 } } }] };
    const clock = manualClock(new Date().toISOString());
    let arrived!: () => void;
    const firstArrived = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { openai, chatCalls, fetch } = await rig({ rules, store: 'memory', now: clock.now, sleep: clock.sleep }, { behavior: () => (arrived(), { kind: 'hold', until: held }) });
    const first = openai.chat.completions.create(hello, as({ user: 'q' }));
    await firstArrived;
    const controller = new AbortController();
    // The second call is queued behind the first: its caller leaves while it waits.
    const waiting = clock.sleeping();
    const second = openai.chat.completions.create(hello, { ...as({ user: 'q' }), signal: controller.signal });
    await waiting;
    controller.abort();
    await expect(second).rejects.toThrow();
    release();
    await first;
    expect(chatCalls()).toBe(1);
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger()).map((r) => r.status)).toEqual([200]);
  });
});
