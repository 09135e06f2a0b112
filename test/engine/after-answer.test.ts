import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/index.js';
import type { TokenlayStore } from '../../src/store/types.js';
import { as, hello, movingClock, PROVIDER_KEY, rig } from './support.js';

const daily = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 100, window: 'day', per: 'user' }] } }] };

/** A memory store with some methods replaced, to fail where a real store can fail. */
function faultyStore(over: Partial<TokenlayStore>): TokenlayStore {
  const store = createMemoryStore();
  return Object.assign(Object.create(null), {
    reserve: store.reserve,
    settle: store.settle,
    release: store.release,
    renew: store.renew,
    read: store.read,
    record: store.record,
    ledger: store.ledger,
    flush: store.flush,
    close: store.close,
    ...over,
  });
}

let warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(w.message);
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

/** An OpenAI client that retries as it does by default, so a failed answer would reach the provider again. */
async function retryingRig(store: TokenlayStore, extra: object = {}) {
  // The settlement's retries sleep on the engine's clock, which each sleep moves: no real waiting.
  const clock = movingClock();
  const r = await rig({ rules: daily, store, settleRetryMs: 200, now: clock.now, sleep: clock.sleep, ...extra });
  const settleWarnings = async () => {
    // flush() waits for the settlement and its retries; the warning is emitted on the next tick.
    await r.fetch.engine.flush();
    await new Promise((resolve) => setImmediate(resolve));
    return warnings.filter((w) => w.startsWith('tokenlay:'));
  };
  return { ...r, openai: new OpenAI({ apiKey: PROVIDER_KEY, baseURL: r.provider.base, fetch: r.fetch, maxRetries: 2 }), settleWarnings };
}

describe('nothing after the provider answered fails the call or makes it retry', () => {
  it('answers when the store rejects the settlement, retries it, and reports the final failure once with the counts', async () => {
    const { openai, chatCalls, settleWarnings } = await retryingRig(faultyStore({ settle: async () => Promise.reject(new Error('SQLITE_IOERR: disk I/O error')) }));
    const answer = await openai.chat.completions.create(hello, as({ user: 'ivy' }));
    expect(answer.choices[0]!.message.content).toBe('hello anonymous');
    expect(chatCalls()).toBe(1);
    const reported = await settleWarnings();
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(/settling \/v1\/chat\/completions user=ivy status 200: 10 input and 5 output tokens.*SQLITE_IOERR/);
  });

  it('answers a stream when the store throws on settle', async () => {
    const { openai, chatCalls, settleWarnings } = await retryingRig(
      faultyStore({
        settle: () => {
          throw new Error('store went away');
        },
      }),
    );
    let text = '';
    for await (const chunk of await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'ivy' }))) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('hello anonymous ');
    expect(chatCalls()).toBe(1);
    expect(await settleWarnings()).toHaveLength(1);
  });

  it('answers when recording the ledger row throws, and when onLedger throws', async () => {
    const broken = await retryingRig(
      faultyStore({
        record: () => {
          throw new Error('ledger full');
        },
      }),
      { onLedger: () => {
        throw new Error('observer bug');
      } },
    );
    await expect(broken.openai.chat.completions.create(hello, as({ user: 'ivy' }))).resolves.toBeDefined();
    expect(broken.chatCalls()).toBe(1);
    const reported = await broken.settleWarnings();
    expect(reported.some((w) => w.includes('could not be recorded') && w.includes('ledger full'))).toBe(true);
    expect(reported.some((w) => w.includes('onLedger threw: observer bug'))).toBe(true);
  });

  it('answers 503 tokenlay_store_unavailable before the provider when the store cannot admit, and the SDK may retry it', async () => {
    const { openai, chatCalls } = await retryingRig(faultyStore({ reserve: async () => Promise.reject(new Error('SQLITE_BUSY: database is locked')) }));
    const error = (await openai.chat.completions.create(hello, as({ user: 'ivy' })).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(503);
    expect((error.error as { type?: string }).type).toBe('tokenlay_store_unavailable');
    expect(error.message).toContain('SQLITE_BUSY');
    expect(error.headers?.get('x-should-retry')).toBeNull();
    expect(chatCalls()).toBe(0);
  });
});
