/** What the gateway tests share: a stand-in provider, a gateway on 127.0.0.1 with a fresh data folder, captured logs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach } from 'vitest';
import { createGateway, createLogger, type Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import { startProvider, type Provider, type ProviderOptions } from '../support/provider.js';

export const PROVIDER_KEY = 'sk-gateway-provider-secret-5d2e8b71';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Registers something to close after the test. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** A fresh directory, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gateway-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Log lines captured as text and as parsed objects. */
export interface CapturedLog {
  text(): string;
  lines(): Array<Record<string, any>>;
}

export function captureLog(): { stream: Writable; log: CapturedLog } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return {
    stream,
    log: {
      text: () => text,
      lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    },
  };
}

export interface GatewayRig {
  provider: Provider;
  gateway: Gateway;
  /** `http://127.0.0.1:PORT` */
  url: string;
  dir: string;
  /** A tokenlay key of the account `acme`. */
  key: string;
  log: CapturedLog;
  /** Headers of a call as the official SDK sends them: bearer key, provider key and base. */
  headers(extra?: Record<string, string>): Record<string, string>;
  /** Calls that reached the provider's chat endpoint. */
  chatCalls(): number;
}

/** A stand-in provider and a gateway in front of it (allowlisted), with a SQLite store in a fresh folder. */
export async function gatewayRig(options: Omit<GatewayOptions, 'logger'> = {}, providerOptions: ProviderOptions = {}): Promise<GatewayRig> {
  const provider = await startProvider(providerOptions);
  cleanups.push(() => provider.close());
  const dir = tempDir();
  const { stream, log } = captureLog();
  const gateway = createGateway({
    store: `sqlite:${join(dir, 'usage.db')}`,
    keys: join(dir, 'usage.db'),
    allowProviderBases: [provider.base],
    logger: createLogger({ destination: stream }),
    ...options,
  });
  cleanups.push(() => gateway.close());
  const { url } = await gateway.listen(0);
  const key = await gateway.keys.create('acme');
  return {
    provider,
    gateway,
    url,
    dir,
    key,
    log,
    headers: (extra = {}) => ({
      authorization: `Bearer ${key}`,
      'x-tokenlay-provider-key': PROVIDER_KEY,
      'x-tokenlay-provider-base': provider.base,
      'content-type': 'application/json',
      ...extra,
    }),
    chatCalls: () => provider.requests.filter((r) => r.path === '/v1/chat/completions').length,
  };
}

export const hello = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello.' }] };
