import { describe, expect, it } from 'vitest';
import { createEngine, runWithTokenlay, TokenlayOpenAI } from '../../src/index.js';
import { eventually } from '../support/gate.js';
import { startProvider } from '../support/provider.js';
import { as, hello, onCleanup, PROVIDER_KEY, rig } from './support.js';

const oneAtATime = { rules: [{ id: 'one', if: {}, then: { limits: [{ type: 'concurrent', max: 1, per: 'user' }] } }] };

describe('streams that stop moving (streamIdleTimeout)', () => {
  it('cancels a stream the caller never reads, settles it, and frees its concurrency slot', async () => {
    const settled: Array<{ status: number }> = [];
    const { openai, chatCalls, fetch } = await rig({ rules: oneAtATime, store: 'memory', streamIdleTimeout: 300, onLedger: (row) => settled.push(row) });
    // Never iterated: the slot must not be held for ever.
    await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'idle' }));
    const refused = await openai.chat.completions.create(hello, as({ user: 'idle' })).then(
      () => 'answered',
      (err: { status?: number }) => err.status,
    );
    expect(refused).toBe(429);
    // The idle timer (300 ms, real time) cancels the stream and settles it, which frees the slot.
    await eventually(() => settled.some((row) => row.status === 200), 'the stream nobody read is settled');
    const answer = await openai.chat.completions.create(hello, as({ user: 'idle' }));
    expect(answer.choices[0]!.message.content).toBe('hello anonymous');
    expect(chatCalls()).toBe(2);
    await fetch.engine.flush();
    const rows = await fetch.engine.store.ledger();
    expect(rows).toHaveLength(3);
    expect(rows[0]!.inputTokens).toBeGreaterThan(0);
  });

  it('errors the reader of a stream whose provider sent one chunk and then nothing, and writes its ledger row', async () => {
    const { openai, fetch } = await rig(
      { rules: oneAtATime, store: 'memory', streamIdleTimeout: 300 },
      { behavior: (r) => (r.body?.stream ? { kind: 'stream-stall', chunks: 1 } : undefined) },
    );
    const stream = await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'stall' }));
    let text = '';
    const started = Date.now();
    const read = async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    };
    await expect(read()).rejects.toThrow(/stopped moving.*300 ms.*streamIdleTimeout/);
    expect(text).toBe('word0 ');
    expect(Date.now() - started).toBeLessThan(5000);
    await fetch.engine.flush();
    const rows = await fetch.engine.store.ledger();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ estimated: true, status: 200 });
    expect(rows[0]!.outputTokens).toBeGreaterThan(0);
    // The slot is free again.
    await expect(openai.chat.completions.create(hello, as({ user: 'stall' }))).resolves.toBeDefined();
  });

  it('keeps a stream whose reader pauses between reads, each pause under the timeout', async () => {
    const { openai, fetch } = await rig({ rules: oneAtATime, store: 'memory', streamIdleTimeout: 1200 });
    const stream = await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'slow' }));
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      // Wall-clock pauses are what is tested: the idle timer is a real timer; each pause (3 events a chunk) is under it, the whole stream over it.
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(text).toBe('hello anonymous ');
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger())[0]).toMatchObject({ status: 200, estimated: false });
  });

  it('takes streamIdleTimeout on TokenlayOpenAI in embedded mode', async () => {
    const provider = await startProvider({ behavior: (r) => (r.body?.stream ? { kind: 'stream-stall', chunks: 1 } : undefined) });
    onCleanup(() => provider.close());
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy: oneAtATime, store: 'memory', maxRetries: 0, streamIdleTimeout: 300 });
    onCleanup(() => openai.close());
    await runWithTokenlay({ user: 'tl' }, async () => {
      const stream = await openai.chat.completions.create({ ...hello, stream: true });
      const read = async () => {
        for await (const _ of stream);
      };
      await expect(read()).rejects.toThrow(/streamIdleTimeout/);
      await expect(openai.chat.completions.create(hello)).resolves.toBeDefined();
    });
  });

  it('refuses a streamIdleTimeout that is not a positive number of ms, naming the value', () => {
    expect(() => createEngine({ streamIdleTimeout: 0 })).toThrow('tokenlay: streamIdleTimeout must be a positive number of milliseconds (default 60000); got 0.');
    expect(() => createEngine({ streamIdleTimeout: '5s' as unknown as number })).toThrow(/streamIdleTimeout .* got "5s"/);
  });
});
