import { spawn } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { startProvider } from '../support/provider.js';
import { as, hello, manualClock, onCleanup, PROVIDER_KEY, tempDir } from './support.js';

const rules = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 3, window: 'day', per: 'user' }, { type: 'concurrent', max: 1, per: 'user' }] } }] };

async function client(dbPath: string, base: string, now: () => number) {
  const embedded = createEmbeddedFetch({ rules, store: `sqlite:${dbPath}`, now });
  onCleanup(() => embedded.close());
  return { embedded, openai: new OpenAI({ apiKey: PROVIDER_KEY, baseURL: base, fetch: embedded, maxRetries: 0 }) };
}

describe('embedded mode on SQLite', () => {
  it('keeps counting after a restart: a new engine on the same file sees the calls of the old one', async () => {
    const provider = await startProvider();
    onCleanup(() => provider.close());
    const db = join(tempDir(), 'nested', 'usage.db');
    const clock = manualClock('2026-05-17T12:00:00Z');

    const first = await client(db, provider.base, clock.now);
    await first.openai.chat.completions.create(hello, as({ user: 'ria' }));
    await first.openai.chat.completions.create(hello, as({ user: 'ria' }));
    await first.embedded.close();

    const second = await client(db, provider.base, clock.now);
    await second.openai.chat.completions.create(hello, as({ user: 'ria' }));
    const blocked = await second.openai.chat.completions.create(hello, as({ user: 'ria' })).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(OpenAI.RateLimitError);
    expect(((blocked as InstanceType<typeof OpenAI.APIError>).error as any).tokenlay.limit.current).toBe(3);

    const rows = await second.embedded.engine.store.ledger({ fields: { user: 'ria' } });
    expect(rows.map((r) => r.status)).toEqual([200, 200, 200, 429]);
  });

  it('frees the reservation of a call whose process crashed once its lease runs out', async () => {
    const provider = await startProvider({ behavior: () => ({ kind: 'stall' }) });
    onCleanup(() => provider.close());
    const db = join(tempDir(), 'usage.db');
    const clock = manualClock('2026-05-17T12:00:00Z');

    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'crash-mid-call.ts'), db, provider.base, JSON.stringify(rules), String(clock.now())], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await provider.received(1);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.write('die\n');
    expect(await exited).toBe(1);

    provider.options.behavior = undefined;
    const { openai } = await client(db, provider.base, clock.now);
    // The dead call still holds the user's one concurrent slot…
    const refused = await openai.chat.completions.create(hello, as({ user: 'crasher' })).catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    expect(((refused as InstanceType<typeof OpenAI.APIError>).error as any).tokenlay.limit.type).toBe('concurrent');
    // …until its 60 s lease has run out.
    clock.advance(60_001);
    await expect(openai.chat.completions.create(hello, as({ user: 'crasher' }))).resolves.toBeDefined();
  });
});

describe('the default store', () => {
  it('is memory, and the engine warns once that limits kept there reset with the process', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const saved = process.env.TOKENLAY_STORE;
    delete process.env.TOKENLAY_STORE;
    try {
      const rules = { rules: [{ id: 'capped', if: {}, then: { limits: [{ type: 'requests', max: 5, window: 'month', per: 'user' }] } }] };
      const first = createEmbeddedFetch({ rules });
      const second = createEmbeddedFetch({ rules });
      await new Promise((r) => setImmediate(r));
      await first.close();
      await second.close();
      expect(warnings.filter((w) => w.includes('counted in memory'))).toHaveLength(1);
      expect(warnings.join(' ')).toMatch(/store: 'sqlite:\.\/\.tokenlay\/usage\.db'/);
    } finally {
      process.off('warning', onWarning);
      if (saved !== undefined) process.env.TOKENLAY_STORE = saved;
    }
  });
});
