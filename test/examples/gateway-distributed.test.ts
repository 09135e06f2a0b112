/**
 * examples/gateway-distributed: `npm start` runs two installed `tokenlay gateway` processes on the
 * machine's Redis (a key prefix of this run's own) and PostgreSQL (a schema of this run's own),
 * against the provider stand-in. The key and the calls are the README's own lines, run with bash
 * and the real curl (URLs and ports substituted). Without Redis or PostgreSQL this file fails,
 * saying which; it never skips. The tests share the two gateways and run in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pgQuery, POSTGRES_URL, REDIS_URL, requireServices, usePostgresSchemas, useRedisPrefixes } from '../store/services.js';
import { startProvider, type Provider } from '../support/provider.js';
import { freePort, installExample, loggedJson, readmeCommand, runShell, STAND_IN_KEY, startExample, type RunningExample } from './support.js';

const EXAMPLE = 'gateway-distributed';
const README_DATABASE = 'postgres://tokenlay:tokenlay@127.0.0.1:5432/tokenlay';
const { Redis } = createRequire(import.meta.url)('ioredis') as typeof IORedis;

const schemas = usePostgresSchemas();
const prefixes = useRedisPrefixes();
let schema: string;
let prefix: string;
let databaseUrl: string;
let provider: Provider;
let example: RunningExample;
let ports: [number, number];
let dataDir: string;
let tenantKey: string;

beforeAll(() => requireServices('Start them: `docker compose up -d` in examples/gateway-distributed, or name yours with TOKENLAY_TEST_REDIS_URL and TOKENLAY_TEST_POSTGRES_URL.'), 30_000);
beforeAll(() => installExample(EXAMPLE), 300_000);

beforeAll(async () => {
  provider = await startProvider();
  dataDir = mkdtempSync(join(tmpdir(), 'tokenlay-example-distributed-'));
  schema = schemas();
  prefix = prefixes();
  databaseUrl = `${POSTGRES_URL}?schema=${schema}`;
  const port2 = await freePort();
  example = await startExample(EXAMPLE, {
    providerBase: provider.base,
    env: { REDIS_URL: `${REDIS_URL}?prefix=${prefix}`, DATABASE_URL: databaseUrl, PORT2: String(port2), DATA_DIR: dataDir },
    readyPath: '/healthz',
  });
  ports = [Number(new URL(example.url).port), port2];
  await vi.waitFor(() => fetch(`http://127.0.0.1:${port2}/healthz`), { timeout: 20_000, interval: 100 });

  // The README's key line, then what it exported.
  const keyLine = readmeCommand(EXAMPLE, 'tokenlay keys create').replaceAll(README_DATABASE, databaseUrl);
  const made = await runShell(EXAMPLE, `${keyLine} && printf %s "$TOKENLAY_KEY"`);
  expect(made.stderr).toBe('');
  tenantKey = made.stdout;
  expect(tenantKey).toMatch(/^tl_[A-Za-z0-9_-]{43}$/);
}, 120_000);

afterAll(async () => {
  await example?.stop();
  await provider?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Runs the README's `ask` function with `calls` (its own line, or others), this run's ports for 8787 and 8788. */
async function ask(calls: string): Promise<Array<{ status: number; port: number; body: string }>> {
  const define = readmeCommand(EXAMPLE, 'ask() {');
  const script = `${define}\n${calls.replaceAll('8787', String(ports[0])).replaceAll('8788', String(ports[1]))}`;
  const { code, stdout, stderr } = await runShell(EXAMPLE, script, { env: { TOKENLAY_KEY: tenantKey, PROVIDER_API_KEY: STAND_IN_KEY, PROVIDER_API_BASE: provider.base } });
  expect(code, stderr).toBe(0);
  return [...stdout.matchAll(/^(.*) → HTTP (\d{3}) from :(\d+)$/gm)].map(([, body, status, port]) => ({ status: Number(status), port: Number(port), body: body! }));
}

const chatCalls = () => provider.requests.filter((r) => r.path === '/v1/chat/completions').length;
const servedBy = (gateway: 1 | 2) => loggedJson(example.output(), `gateway ${gateway}`).filter((line) => line.msg === 'call');

describe('examples/gateway-distributed: two gateways sharing Redis counters and a PostgreSQL ledger', () => {
  it("a free user's calls sent in turn to both gateways are admitted 3 times in total; the 4th and later are refused with the rule's message by whichever gateway gets them", async () => {
    const answers = await ask(readmeCommand(EXAMPLE, 'ask 8787;'));
    expect(answers.map((a) => [a.status, a.port])).toEqual([
      [200, ports[0]],
      [200, ports[1]],
      [200, ports[0]],
      [429, ports[1]],
    ]);
    expect(JSON.parse(answers[0]!.body)).toMatchObject({ model: 'gpt-4o-mini', choices: [{ message: { content: 'hello anonymous' } }] });
    expect(JSON.parse(answers[3]!.body).error).toMatchObject({
      message: 'The free plan allows 3 requests a day, whichever gateway answers; upgrade for more.',
      tokenlay: { rule_id: 'free-daily', limit: { max: 3, current: 3, scope: 'user=dana' } },
    });
    // Gateway 2 refuses although it admitted only one call: the count is shared. So does gateway 1.
    expect((await ask('ask 8787')).map((a) => [a.status, a.port])).toEqual([[429, ports[0]]]);
    expect(chatCalls()).toBe(3);
    await vi.waitFor(() => expect([servedBy(1).length, servedBy(2).length]).toEqual([3, 2]), { timeout: 5000, interval: 50 });
    expect(servedBy(1).map((c) => c.status)).toEqual([200, 200, 429]);
    expect(servedBy(2).map((c) => c.status)).toEqual([200, 429]);
  });

  it('calls of one free user sent at the same moment, half to each gateway, are admitted exactly 3 times', async () => {
    const before = chatCalls();
    const statuses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fetch(`http://127.0.0.1:${ports[i % 2]}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tenantKey}`, 'x-tokenlay-provider-key': STAND_IN_KEY, 'x-tokenlay-provider-base': provider.base, 'x-tokenlay-user': 'erin', 'x-tokenlay-plan': 'free', 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${i}` }] }),
        }).then(async (res) => (await res.arrayBuffer(), res.status)),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
    expect(chatCalls() - before).toBe(3);
  });

  it("either gateway's /v1/usage reports the calls both served, read from the shared ledger", async () => {
    const usage = async (port: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/v1/usage?group_by=user&window=day`, { headers: { authorization: `Bearer ${tenantKey}` } });
      expect(res.status).toBe(200);
      const { data } = (await res.json()) as { data: Array<{ user: string; requests: number; input_tokens: number }> };
      return Object.fromEntries(data.map((row) => [row.user, [row.requests, row.input_tokens]]));
    };
    // Rows reach PostgreSQL in batches, a moment after each call.
    const expected = { dana: [5, 30], erin: [8, 30] };
    await vi.waitFor(async () => expect(await usage(ports[0])).toEqual(expected), { timeout: 10_000, interval: 200 });
    expect(await usage(ports[1])).toEqual(expected);
  });

  it("once both stop, PostgreSQL's ledger has one row per call (exactly the admitted calls as 200, the refused as 429), the counters were in Redis under this run's prefix, and tokenlay usage --ledger prints them", async () => {
    const redis = new Redis(REDIS_URL);
    try {
      expect((await redis.keys(`${prefix}*`)).length).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
    await example.stop();
    expect(example.output().match(/finishing calls in flight, writing the ledger/g)).toHaveLength(2);

    const rows = await pgQuery<{ user: string; status: number; calls: string; ids: string }>(
      `SELECT fields->>'user' AS user, status, count(*) AS calls, count(DISTINCT call_id) AS ids FROM "${schema}".tokenlay_ledger GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    expect(rows.map((r) => [r.user, r.status, Number(r.calls), Number(r.ids)])).toEqual([
      ['dana', 200, 3, 3],
      ['dana', 429, 2, 2],
      ['erin', 200, 3, 3],
      ['erin', 429, 5, 5],
    ]);

    const usageLine = readmeCommand(EXAMPLE, 'tokenlay usage').replaceAll(README_DATABASE, databaseUrl);
    const usage = await runShell(EXAMPLE, usageLine);
    expect(usage.code, usage.stderr).toBe(0);
    const table = usage.stdout.split('\n').map((line) => line.split('│').map((cell) => cell.trim()).filter(Boolean));
    // user → calls sent to the provider, refused, input tokens, output tokens
    expect(Object.fromEntries(table.filter((cells) => cells.length === 6 && cells[0] !== 'user').map(([user, ...counts]) => [user, counts.slice(0, 4)]))).toEqual({
      dana: ['3', '2', '30', '15'],
      erin: ['3', '5', '30', '15'],
      total: ['6', '7', '60', '30'],
    });
    expect(example.output()).not.toContain(STAND_IN_KEY);
    expect(example.output()).not.toContain(tenantKey);
  });
});
