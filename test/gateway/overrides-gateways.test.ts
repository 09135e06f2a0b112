import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costUnits } from '../../src/store/money.js';
import { honestUsage } from '../support/honest-usage.js';
import { startProvider, type Provider } from '../support/provider.js';
import { callMany, gatewayCall, startGateway, tokenlayCli, type GatewayProcess } from '../store/gateway-process.js';
import { pgQuery, POSTGRES_URL, REDIS_URL, usePostgresSchemas, useRedisPrefixes } from '../store/services.js';

// Two `tokenlay gateway` processes sharing Redis counters and a PostgreSQL ledger, as a user runs
// them: an override or a grant made through one reaches the other, and one balance is drawn by both.
const prefixes = useRedisPrefixes();
const schemas = usePostgresSchemas();
const PROVIDER_KEY = 'sk-overrides-provider-key';
const RULES = `version: '0.1'
rules:
  - id: prepaid
    if: { org: prepaid }
    then: { limits: [{ type: credits, per: user }] }
  - id: daily
    if: {}
    then: { limits: [{ type: requests, max: 1, window: day, per: user }] }
prices:
  gpt-4o-mini: { input: 100000, output: 200000 }
`;
const body = { model: 'gpt-4o-mini', max_tokens: 200, messages: [{ role: 'user' as const, content: 'Summarise the quarter in three points.' }] };
const GRANT = 30;

let provider: Provider;
let dir: string;
let ledger: string;
let key: string;
let schema: string;
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  provider = await startProvider({ usage: honestUsage(1_000), behavior: () => ({ kind: 'delay', ms: 10 }) });
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-overrides-'));
  writeFileSync(join(dir, 'rules.yaml'), RULES);
  schema = schemas();
  ledger = `${POSTGRES_URL}?schema=${schema}&flushIntervalMs=100`;
  const keys = tokenlayCli(dir, ['keys', 'create', '--name', 'boss', '--admin', '--ledger', ledger]);
  let out = '';
  keys.stdout!.on('data', (c) => (out += String(c)));
  keys.stderr!.on('data', (c) => (out += String(c)));
  const code = await new Promise((r) => keys.once('exit', r));
  if (code !== 0) throw new Error(`tokenlay keys create --admin failed: ${out}`);
  key = out.trim().split('\n').at(-1)!;
  const prefix = prefixes();
  const args = ['--rules', 'rules.yaml', '--allow-provider-base', provider.base, '--log-level', 'warn', '--store', `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`, '--ledger', ledger];
  gateways.push(...(await Promise.all([0, 1].map((i) => startGateway(dir, [...args, '--ledger-spool', `gateway-${i}.spool`])))));
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
});

const headers = (user: string, org = 'acme') => ({
  authorization: `Bearer ${key}`,
  'x-tokenlay-provider-key': PROVIDER_KEY,
  'x-tokenlay-provider-base': provider.base,
  'x-tokenlay-user': user,
  'x-tokenlay-org': org,
});

async function adminCall(g: GatewayProcess, method: string, path: string, payload?: unknown): Promise<any> {
  const res = await fetch(`${g.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, ...(payload ? { body: JSON.stringify(payload) } : {}) });
  expect(res.status, `${method} ${path}`).toBe(200);
  return res.json();
}

describe('overrides and credits across two gateway processes (Redis counters, PostgreSQL ledger)', () => {
  it('an override set through one gateway reaches the other within 5 s', async () => {
    const [one, two] = gateways as [GatewayProcess, GatewayProcess];
    expect(await gatewayCall(two.url, headers('alice'), body)).toBe(200);
    expect(await gatewayCall(two.url, headers('alice'), body)).toBe(429);
    const started = Date.now();
    await adminCall(one, 'PUT', '/v1/admin/limits', { user: 'alice', type: 'requests', max: 100, window: 'day' });
    let status: number | string = 429;
    let tries = 0;
    while (status !== 200 && Date.now() - started < 5000 && tries++ < 100) {
      status = await gatewayCall(two.url, headers('alice'), body);
      // Polled (bounded): the other gateway process reads the overrides on its own poll interval, which the test times.
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
    // The second gateway lists it as well: it is in the shared database, with who set it.
    const listed = await adminCall(two, 'GET', '/v1/admin/limits');
    expect(listed.data).toMatchObject([{ account: 'boss', value: 'alice', max: 100, setBy: 'key:boss' }]);
  }, 30_000);

  it('100 concurrent calls over both gateways draw one balance exactly: never below zero, used equal to the ledger to the unit', async () => {
    const [one, two] = gateways as [GatewayProcess, GatewayProcess];
    await adminCall(one, 'POST', '/v1/admin/credits', { user: 'carol', usd: GRANT });
    // Both gateways know the grant before the calls start.
    await expect.poll(async () => (await adminCall(two, 'GET', '/v1/admin/credits?user=carol')).balance.granted, { timeout: 5000, interval: 100 }).toBe(GRANT);
    const answers = await callMany([one.url, two.url], 100, 100, () => headers('carol', 'prepaid'), body);
    expect(answers.filter((a) => a === 200).length).toBeGreaterThan(0);
    expect(answers.filter((a) => a === 429).length).toBeGreaterThan(0);
    expect(answers.every((a) => a === 200 || a === 429)).toBe(true);

    const { balance } = await adminCall(two, 'GET', '/v1/admin/credits?user=carol');
    expect(balance.reserved).toBe(0);
    expect(balance.remaining).toBeGreaterThanOrEqual(0);
    expect(costUnits(balance.used)).toBeLessThanOrEqual(costUnits(GRANT));
    // Every use is a ledger row: the rows of the answered calls cost exactly what the balance lost.
    const rowsOf = () => pgQuery<{ n: string; units: string }>(`SELECT count(*) AS n, coalesce(sum(cost_units), 0) AS units FROM "${schema}".tokenlay_ledger WHERE fields->>'user' = 'carol' AND status = 200 AND endpoint <> 'tokenlay:credits'`);
    await expect.poll(async () => Number((await rowsOf())[0]!.n), { timeout: 10_000, interval: 200 }).toBe(answers.filter((a) => a === 200).length);
    expect(Number((await rowsOf())[0]!.units)).toBe(costUnits(balance.used));
    const grants = await pgQuery<{ fields: Record<string, string> }>(`SELECT fields FROM "${schema}".tokenlay_ledger WHERE endpoint = 'tokenlay:credits'`);
    expect(grants.map((g) => g.fields)).toEqual([{ user: 'carol', account: 'boss', credit_usd: String(GRANT), credit_by: 'key:boss' }]);
  }, 60_000);
});
