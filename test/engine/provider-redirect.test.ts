import { describe, expect, it } from 'vitest';
import { as, hello, onCleanup, rig } from './support.js';
import { startProvider } from '../support/provider.js';

describe('a provider that answers with a redirect', () => {
  it('is never followed: the call fails 502 naming the redirect and the fix, and the other origin gets nothing', async () => {
    const elsewhere = await startProvider();
    onCleanup(() => elsewhere.close());
    const { openai, chatCalls, fetch } = await rig(
      { store: 'memory', rules: { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 10, window: 'day', per: 'user' }] } }] } },
      { behavior: () => ({ kind: 'status', status: 307, headers: { location: `${elsewhere.base}/chat/completions?token=secret-in-url` }, body: {} }) },
    );
    const error = (await openai.chat.completions.create(hello, as({ user: 'ana' })).catch((e: unknown) => e)) as { status?: number; message?: string };
    expect(error.status).toBe(502);
    expect(error.message).toContain('307 with a redirect to http://127.0.0.1');
    expect(error.message).toContain('never follows');
    expect(error.message).toContain('providerApiBase');
    expect(error.message).not.toContain('secret-in-url');
    expect(chatCalls()).toBe(1);
    expect(elsewhere.requests).toHaveLength(0);
    // Nothing was billed; the call reached the provider, so a requests limit counts it.
    const rows = await fetch.engine.store.ledger();
    expect(rows.map((r) => [r.status, r.cost])).toEqual([[502, 0]]);
    const day = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    expect(await fetch.engine.store.read('daily|requests|day|user=ana', 'requests', day, Date.now())).toEqual({ used: 1, reserved: 0 });
  });
});
