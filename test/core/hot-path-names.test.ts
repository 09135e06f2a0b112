/**
 * The package is built with `keepNames` (class and function names survive the CJS build), which
 * makes every function created with a name cost an `Object.defineProperty(fn, 'name')`. Done per
 * request, that is microseconds on every request an app serves. This builds the Express adapter
 * the way the package build does and counts the names defined while real requests go through it.
 */
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = join(root, '.tmp', `hot-path-names-${process.pid}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function post(url: string, user: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'x-user': user, 'content-type': 'text/plain' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end('some body');
  });
}

/**
 * Imports a module file that captures `Object.defineProperty` when it loads (as esbuild's `__name`
 * helper does), with a counting one in place: `named` then lists every function name it defines.
 */
async function importCountingNames(file: string): Promise<{ mod: any; named: string[] }> {
  const named: string[] = [];
  const define = Object.defineProperty;
  // Counts, and still defines.
  Object.defineProperty = function (target: any, key: PropertyKey, descriptor: PropertyDescriptor) {
    if (key === 'name' && typeof target === 'function') named.push(String(descriptor.value));
    return define(target, key, descriptor);
  } as typeof Object.defineProperty;
  try {
    return { mod: await import(pathToFileURL(file).href), named };
  } finally {
    Object.defineProperty = define;
  }
}

it('defines no function name per request in the built Express adapter: body read, scope read, onFinish', async () => {
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'entry.ts');
  writeFileSync(
    entry,
    `export { tokenlay } from ${JSON.stringify(join(root, 'adapters/express.ts'))};\n` +
      `export { getTokenlayContext } from ${JSON.stringify(join(root, 'src/scope/context.ts'))};\n`,
  );
  const outfile = join(dir, 'bundle.mjs');
  // As tsup.config.ts builds the CJS package: keepNames, node20 (the ESM build keeps no names).
  await build({ entryPoints: [entry], outfile, bundle: true, format: 'esm', platform: 'node', target: 'node20', keepNames: true, logLevel: 'error' });

  const { mod, named } = await importCountingNames(outfile);
  // The bundle's `__name` helper keeps the counting function it captured; nothing else is counted.
  expect(named).toContain('tokenlay');

  let finished = 0;
  const mw = mod.tokenlay({ identify: (req: IncomingMessage) => ({ user: req.headers['x-user'] }), onFinish: () => finished++ });
  const server = createServer((req: IncomingMessage, res: ServerResponse) =>
    mw(req, res, () => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.once('end', () => res.end(`${mod.getTokenlayContext()?.user}:${body.length}`));
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const before = named.length;
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await post(url, `user-${i}`));
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => `user-${i}:9`));
    expect(named.slice(before)).toEqual([]);
    // onFinish runs once each response has gone out.
    await expect.poll(() => finished, { timeout: 10_000, interval: 10 }).toBe(20);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  expect(finished).toBe(20);
});

it('defines no function name per call in the shipped build: TokenlayOpenAI in embedded mode, JSON and streamed', async () => {
  const { ensureBuilt } = await import('../../scripts/ensure-built.mjs');
  const { startProvider } = await import('../support/provider.js');
  ensureBuilt();
  // A private copy of dist/, so that this module instance captures the counting defineProperty.
  const copy = join(dir, 'dist');
  cpSync(join(root, 'dist'), copy, { recursive: true });
  const { mod, named } = await importCountingNames(join(copy, 'index.js'));
  const provider = await startProvider();
  const rules = { rules: [{ id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 1000, window: 'day', per: 'user' }] } }] };
  const openai = new mod.TokenlayOpenAI({ providerApiKey: 'sk-test', providerApiBase: provider.base, policy: rules, store: 'memory', maxRetries: 0 });
  const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
  try {
    const once = async (i: number) =>
      mod.runWithTokenlay({ user: `user-${i % 3}` }, async () => {
        await openai.chat.completions.create(ask);
        const stream = await openai.chat.completions.create({ ...ask, stream: true });
        for await (const event of stream) void event;
      });
    await once(0); // first use loads the price table and the tokenizer
    const before = named.length;
    for (let i = 0; i < 20; i++) await once(i);
    expect(named.slice(before)).toEqual([]);
    expect(mod.getTokenlayUsage).toBeTypeOf('function');
  } finally {
    await openai.close();
    await provider.close();
  }
});
