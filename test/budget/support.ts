/** What the budget tests share: a provider stand-in, and a TokenlayOpenAI in either mode on the same rules. */
import { afterEach } from 'vitest';
import { TokenlayOpenAI } from '../../src/index.js';
import { createGateway, createLogger } from '../../src/gateway/index.js';
import { startProvider, type Provider, type ProviderOptions } from '../support/provider.js';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROVIDER_KEY = 'sk-budget-provider-key-41c9';
export type Mode = 'embedded' | 'remote';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Registers something to close after the test. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** The stand-in answers at most the output limit it was sent (50 tokens at most), as a provider does. */
export const honestUsage: ProviderOptions = {
  usage: (r) => ({ prompt: 10, completion: Math.min(50, Number((r.body as any)?.max_tokens ?? (r.body as any)?.max_completion_tokens ?? 50)) }),
};

/**
 * A TokenlayOpenAI on `rules`: embedded (the engine in-process, memory store), or remote (an
 * in-process `tokenlay gateway` on 127.0.0.1 with its own key, the client pointing at it).
 */
export async function clientFor(mode: Mode, rules: object, providerOptions: ProviderOptions = honestUsage): Promise<{ openai: TokenlayOpenAI; provider: Provider }> {
  const provider = await startProvider(providerOptions);
  cleanups.push(() => provider.close());
  if (mode === 'embedded') {
    const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, policy: rules, store: 'memory', maxRetries: 0 });
    cleanups.push(() => openai.close());
    return { openai, provider };
  }
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-budget-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const gateway = createGateway({ rules, store: 'memory', keys: join(dir, 'keys.db'), allowProviderBases: [provider.base], logger: createLogger({ destination: quiet }) });
  cleanups.push(() => gateway.close());
  const { url } = await gateway.listen(0);
  const key = await gateway.keys.create('acme');
  const openai = new TokenlayOpenAI({ providerApiKey: PROVIDER_KEY, providerApiBase: provider.base, tokenlayKey: key, tokenlayBaseUrl: url, maxRetries: 0 });
  cleanups.push(() => openai.close());
  return { openai, provider };
}
