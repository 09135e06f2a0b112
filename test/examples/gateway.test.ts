/**
 * examples/gateway: `npm start` makes a tenant key with `tokenlay keys create`, runs the installed
 * `tokenlay gateway` and an Express app in remote mode against the provider stand-in. The calls
 * are the README's own `curl` lines, run with the real curl (URLs, key and provider substituted),
 * in the order a reader tries them; the file shares one gateway, so the tests run in that order.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore } from 'tokenlay';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startProvider, type Provider } from '../support/provider.js';
import { curlResponse, freePort, installExample, loggedJson, readmeCommand, runInExample, runShell, STAND_IN_KEY, startExample, type RunningExample } from './support.js';

const EXAMPLE = 'gateway';
const README_APP = 'http://127.0.0.1:3000';
const README_GATEWAY = 'http://127.0.0.1:8787';

let provider: Provider;
let example: RunningExample;
let gatewayUrl: string;
let dataDir: string;
let tenantKey: string;

beforeAll(() => installExample(EXAMPLE), 300_000);

beforeAll(async () => {
  provider = await startProvider();
  dataDir = mkdtempSync(join(tmpdir(), 'tokenlay-example-gateway-'));
  const gatewayPort = await freePort();
  gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  example = await startExample(EXAMPLE, { providerBase: provider.base, env: { GATEWAY_PORT: String(gatewayPort), DATA_DIR: dataDir } });
  tenantKey = readFileSync(join(dataDir, 'tenant.key'), 'utf8').trim();
}, 120_000);

afterAll(async () => {
  await example?.stop();
  await provider?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A README command as the reader runs it here: this run's URLs, data folder, key and provider. */
async function sh(...parts: string[]) {
  const command = readmeCommand(EXAMPLE, ...parts)
    .replaceAll(README_APP, example.url)
    .replaceAll(README_GATEWAY, gatewayUrl)
    .replaceAll('.tokenlay/', `${dataDir}/`);
  const result = await runShell(EXAMPLE, command, { env: { TOKENLAY_KEY: tenantKey, PROVIDER_API_KEY: STAND_IN_KEY, PROVIDER_API_BASE: provider.base } });
  expect(result.code, `${command}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

const chatCalls = () => provider.requests.filter((r) => r.path === '/v1/chat/completions');

/** The calls the gateway logged, one JSON line each. */
const gatewayCalls = () => loggedJson(example.output(), 'gateway').filter((line) => line.msg === 'call');

describe('examples/gateway: a self-hosted tokenlay gateway, called by an app in remote mode and by curl', () => {
  it("the app sends each signed-in user's call through the gateway, which applies that user's plan: alice (free) on gpt-4o-mini, bob (pro) on gpt-4o", async () => {
    const [alice, bob] = await Promise.all([sh(README_APP, 'alice-token'), sh(README_APP, 'bob-token')]).then((outs) => outs.map((out) => JSON.parse(out)));
    expect(alice).toMatchObject({ answer: 'hello anonymous', model: 'gpt-4o-mini', tokenlay: { ruleId: 'free-plan', ruleAction: 'allow', limitExceeded: false, inputTokens: 10, outputTokens: 5 }, request: { calls: 1, inputTokens: 10, outputTokens: 5 } });
    expect(bob).toMatchObject({ model: 'gpt-4o', tokenlay: { ruleId: 'pro-plan', ruleAction: 'allow', limitExceeded: false }, request: { calls: 1 } });
    expect(bob.tokenlay.cost).toBeGreaterThan(alice.tokenlay.cost);

    // The gateway saw who made each call (the app threaded no header by hand); it logs a call once
    // settled, just after answering it…
    await vi.waitFor(() => expect(gatewayCalls()).toHaveLength(2), { timeout: 5000, interval: 50 });
    expect(gatewayCalls().map((c) => [c.fields.user, c.fields.plan, c.rule, c.model_used]).sort()).toEqual([
      ['alice', 'free', 'free-plan', 'gpt-4o-mini'],
      ['bob', 'pro', 'pro-plan', 'gpt-4o'],
    ]);
    // …and the provider got the provider's key and the model the rule chose, never the tenant key or a field.
    expect(chatCalls().map((r) => r.body.model).sort()).toEqual(['gpt-4o', 'gpt-4o-mini']);
    for (const call of chatCalls()) {
      expect(call.headers.authorization).toBe(`Bearer ${STAND_IN_KEY}`);
      expect(Object.keys(call.headers).filter((name) => name.startsWith('x-tokenlay-'))).toEqual([]);
    }
  });

  it("refuses the free plan's 4th call of the day with 429, retry-after and the rule's message, without calling the provider; no sign-in is the app's 401", async () => {
    for (let i = 0; i < 2; i++) expect(JSON.parse(await sh(README_APP, 'alice-token')).tokenlay.ruleId).toBe('free-plan');
    const before = chatCalls().length;
    const refused = JSON.parse(await sh(README_APP, 'alice-token'));
    expect(refused.error).toMatchObject({ message: 'The free plan allows 3 requests a day; upgrade to pro for more.', type: 'tokenlay_limit_exceeded', tokenlay: { rule_id: 'free-plan', limit: { type: 'requests', max: 3, current: 3, scope: 'user=alice' } } });

    const again = await fetch(`${example.url}/chat`, { method: 'POST', headers: { authorization: 'Bearer alice-token', 'content-type': 'application/json' }, body: '{}' });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(again.headers.get('x-tokenlay-rule-id')).toBe('free-plan');
    expect(chatCalls().length).toBe(before);

    const anonymous = await fetch(`${example.url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(anonymous.status).toBe(401);
    expect((await anonymous.json()).error).toContain('alice-token');
  });

  it('plain curl with x-tokenlay-* headers gets the answer with rule, action, model, cost and tokens in x-tokenlay-* headers, and /v1/usage counts it', async () => {
    const answer = curlResponse(await sh('curl -si', `${README_GATEWAY}/v1/chat/completions`));
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({
      'x-tokenlay-rule-id': 'free-plan',
      'x-tokenlay-rule-action': 'allow',
      'x-tokenlay-limit-exceeded': 'false',
      'x-tokenlay-model': 'gpt-4o-mini',
      'x-tokenlay-tokens-used': '15',
      'x-tokenlay-input-tokens': '10',
      'x-tokenlay-output-tokens': '5',
    });
    expect(answer.headers['x-tokenlay-cost']).toMatch(/^0\.\d*[1-9]$/);
    expect(JSON.parse(answer.body)).toMatchObject({ model: 'gpt-4o-mini', choices: [{ message: { content: 'hello anonymous' } }] });
    const sent = chatCalls().at(-1)!;
    expect(sent.body.model).toBe('gpt-4o-mini'); // named by the free plan's rule: the curl named none
    expect(sent.headers.authorization).toBe(`Bearer ${STAND_IN_KEY}`);
    await vi.waitFor(() => expect(gatewayCalls()).toHaveLength(7), { timeout: 5000, interval: 50 });
    expect(gatewayCalls().at(-1)).toMatchObject({ fields: { user: 'carol', plan: 'free' }, rule: 'free-plan', status: 200 });

    const usage = JSON.parse(await sh('curl -s', `${README_GATEWAY}/v1/usage`)) as { data: Array<{ user: string; requests: number; input_tokens: number }> };
    expect(usage.data.find((row) => row.user === 'carol')).toMatchObject({ requests: 1, input_tokens: 10, output_tokens: 5 });
    expect(usage.data.map((row) => row.user).sort()).toEqual(['alice', 'bob', 'carol']);
  });

  it("once stopped (SIGTERM, as Ctrl-C), the gateway's ledger has every call, and tokenlay usage prints calls, blocks and cost per user", async () => {
    await example.stop();
    expect(example.output()).toContain('finishing calls in flight, writing the ledger');
    const printed = await sh('npx tokenlay usage');
    // Calls are the calls sent to a provider; refused calls have their own column.
    // │ alice │ 3 │ 2 │ 30 │ 15 │ $0.000013 │
    const rows = Object.fromEntries(
      printed
        .split('\n')
        .map((line) => line.split('│').map((cell) => cell.trim()).filter(Boolean))
        .filter((cells) => cells.length === 6 && cells[0] !== 'user')
        .map(([user, ...rest]) => [user, rest]),
    );
    expect(rows).toEqual({
      alice: ['3', '2', '30', '15', expect.stringMatching(/^\$0\.0000\d\d$/)],
      bob: ['1', '0', '10', '5', '$0.000075'],
      carol: ['1', '0', '10', '5', expect.stringMatching(/^\$0\.0000\d\d$/)],
      total: ['5', '2', '50', '25', expect.stringMatching(/^\$0\.0000\d\d$/)],
    });
    // Neither key was ever printed: not the provider's, not the tenant's.
    expect(example.output()).not.toContain(STAND_IN_KEY);
    expect(example.output()).not.toContain(tenantKey);
  });
});

describe('examples/gateway: Ctrl-C while the app waits on the gateway', () => {
  it("the caller still gets the answer, and the gateway's ledger has the call as answered, not as cut off", async () => {
    const slow = await startProvider({ behavior: (r) => (r.body?.messages?.[0]?.content === 'a slow one' ? { kind: 'delay', ms: 1500 } : undefined) });
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-example-gateway-'));
    const running = await startExample(EXAMPLE, { providerBase: slow.base, env: { GATEWAY_PORT: String(await freePort()), DATA_DIR: dir } });
    try {
      const answer = fetch(`${running.url}/chat`, {
        method: 'POST',
        headers: { authorization: 'Bearer bob-token', 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'a slow one' }),
        signal: AbortSignal.timeout(20_000),
      }).catch((error: Error) => error);
      await vi.waitFor(() => expect(slow.requests).toHaveLength(1), { timeout: 10_000, interval: 20 });
      await running.stop('SIGINT');
      const res = await answer;
      if (res instanceof Error) throw new Error(`the app dropped the call in flight: ${res.message} (${String(res.cause)})`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ answer: 'hello anonymous', model: 'gpt-4o' });
      const ledger = createStore(`sqlite:${join(dir, 'usage.db')}`);
      try {
        expect((await ledger.ledger()).map((row) => [row.fields.user, row.status, row.estimated])).toEqual([['bob', 200, false]]);
      } finally {
        await ledger.close();
      }
    } finally {
      await running.stop();
      await slow.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("examples/gateway: the app's PORT already in use", () => {
  it('npm start says the address is in use and stops the gateway too, rather than saying the app listens', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-example-gateway-'));
    try {
      const port = (taken.address() as AddressInfo).port;
      const env = { PORT: String(port), GATEWAY_PORT: String(await freePort()), DATA_DIR: dir, PROVIDER_API_KEY: STAND_IN_KEY };
      const started = runInExample(EXAMPLE, ['npm', 'start'], { env, timeoutMs: 30_000 });
      await expect(started).rejects.toThrow(`EADDRINUSE: address already in use 127.0.0.1:${port}`);
      await expect(started).rejects.toThrow('[app] exited (1); stopping the others.');
      await expect(started).rejects.not.toThrow('app listening');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
