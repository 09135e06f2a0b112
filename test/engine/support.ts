/** What the engine tests share: a stand-in provider, an OpenAI client on the embedded fetch, a clock. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach } from 'vitest';
import { createEmbeddedFetch, type EmbeddedFetch, type EngineConfig } from '../../src/engine/index.js';
import { decodeHeaderValue, fieldsToHeaders } from '../../src/protocol/headers.js';
import { startProvider, type Provider, type ProviderOptions } from '../support/provider.js';

export const PROVIDER_KEY = 'sk-test-provider-key-7f3a9c';

/** The engine's clock as a test drives it: `now` and `sleep` (see `EngineConfig.sleep`). */
export interface TestClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * A clock the test moves by hand. Its `sleep` resolves once `advance` or `set` has moved the
 * clock past the sleeper's end; `sleeping()` resolves when the engine next sleeps on it, with the ms.
 */
export function manualClock(iso: string): TestClock & { set(iso: string): void; advance(ms: number): void; sleeping(): Promise<number> } {
  let t = Date.parse(iso);
  let sleepers: Array<{ until: number; wake: () => void }> = [];
  const watchers: Array<(ms: number) => void> = [];
  const wakeDue = () => {
    const due = sleepers.filter((s) => s.until <= t);
    sleepers = sleepers.filter((s) => s.until > t);
    for (const s of due) s.wake();
  };
  return {
    now: () => t,
    set(s) {
      t = Date.parse(s);
      wakeDue();
    },
    advance(ms) {
      t += ms;
      wakeDue();
    },
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const sleeper = { until: t + ms, wake: resolve };
        sleepers.push(sleeper);
        signal?.addEventListener('abort', () => {
          sleepers = sleepers.filter((s) => s !== sleeper);
          reject(signal.reason);
        }, { once: true });
        for (const w of watchers.splice(0)) w(ms);
      });
    },
    sleeping: () => new Promise<number>((resolve) => watchers.push(resolve)),
  };
}

/** A clock that each sleep moves forward at once (the sleeper wakes on the next turn of the event loop): waits take no real time. */
export function movingClock(): TestClock {
  let t = Date.now();
  return {
    now: () => t,
    sleep(ms, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      t += ms;
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}

/** Request options that attribute one call, as the tokenlay client would send them. */
export function as(fields: Record<string, string>): { headers: Record<string, string> } {
  return { headers: fieldsToHeaders(fields) };
}

export interface Rig {
  provider: Provider;
  fetch: EmbeddedFetch;
  openai: OpenAI;
  /** Calls that reached the provider's chat endpoint. */
  chatCalls(): number;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Starts a stand-in provider and an OpenAI client whose fetch is the embedded engine. */
export async function rig(config: Omit<EngineConfig, 'fetch'>, providerOptions: ProviderOptions = {}): Promise<Rig> {
  const provider = await startProvider(providerOptions);
  cleanups.push(() => provider.close());
  const embedded = createEmbeddedFetch(config);
  cleanups.push(() => embedded.close());
  const openai = new OpenAI({ apiKey: PROVIDER_KEY, baseURL: provider.base, fetch: embedded, maxRetries: 0 });
  return { provider, fetch: embedded, openai, chatCalls: () => provider.requests.filter((r) => r.path === '/v1/chat/completions').length };
}

/** A fresh directory, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-engine-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Registers something to close after the test. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export const hello = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello.' }] };

/** The warnings header of an answer, decoded as PROTOCOL.md §2 says (null when absent). */
export function warningsHeader(response: Response): any {
  const raw = response.headers.get('x-tokenlay-warnings');
  return raw === null ? null : JSON.parse(decodeHeaderValue(raw));
}
