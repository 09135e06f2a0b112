import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPricer, reservationEstimate } from '../../src/metering/index.js';
import { honestUsage } from '../support/honest-usage.js';
import { startProvider, type Provider } from '../support/provider.js';
import { pgQuery, POSTGRES_URL, REDIS_URL, usePostgresSchemas, useRedisPrefixes } from './services.js';

// Three `tokenlay gateway` processes, as a user starts them, sharing --store redis://… and
// --ledger postgres://… (which also holds the keys): limits hold across the three as for one.
// They run without gpt-tokenizer (an optional peer), so reservations must bound input without it.
const root = join(import.meta.dirname, '..', '..');
const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const bin = join(root, 'src', 'cli', 'main.ts');
const prefixes = useRedisPrefixes();
const schemas = usePostgresSchemas();
const PROVIDER_KEY = 'sk-gateways-provider-key';
const CAP = 50;
const RULES = `version: '0.1'
rules:
  - id: daily
    if: { org: daily }
    then: { limits: [{ type: requests, max: 10, window: day, per: user }] }
  - id: capped
    if: { org: acme }
    then: { limits: [{ type: cost, max: ${CAP}, window: month, per: org }] }
prices:
  gpt-4o-mini: { input: 100000, output: 200000 }
`;
// Text that 4 characters a token underestimates (CJK and digits): the provider's real count is higher.
const body = {
  model: 'gpt-4o-mini',
  max_tokens: 5,
  messages: [{ role: 'user' as const, content: '请用三点总结季度报告: Q3 2026 营收 1,234,567 元。' }],
};
const withoutTokenizer = join(root, 'test', 'metering', 'fixtures', 'without-gpt-tokenizer.cjs');

let provider: Provider;
let dir: string;
let schema: string;
let key: string;
const gateways: Array<{ proc: ChildProcess; url: string; out: () => string }> = [];

function cli(args: string[]): ChildProcess {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('TOKENLAY_')) delete env[name];
  return spawn(process.execPath, ['--require', withoutTokenizer, '--import', tsx, bin, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startGateway(args: string[]): Promise<{ proc: ChildProcess; url: string; out: () => string }> {
  const proc = cli(['gateway', '--port', '0', ...args]);
  let out = '';
  proc.stdout!.on('data', (c) => (out += String(c)));
  proc.stderr!.on('data', (c) => (out += String(c)));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', () => {
      const m = /tokenlay gateway listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
  });
  return { proc, url, out: () => out };
}

beforeAll(async () => {
  provider = await startProvider({ usage: honestUsage(1_000), behavior: () => ({ kind: 'delay', ms: 30 }) });
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-gateways-'));
  writeFileSync(join(dir, 'rules.yaml'), RULES);
  schema = schemas();
  // Keys live in the shared Postgres ledger, so every gateway knows the key made here.
  const keys = cli(['keys', 'create', '--name', 'acme', '--ledger', `${POSTGRES_URL}?schema=${schema}`]);
  let out = '';
  keys.stdout!.on('data', (c) => (out += String(c)));
  await new Promise((r) => keys.once('exit', r));
  key = out.trim().split('\n').at(-1)!;
  const prefix = prefixes();
  const args = ['--rules', 'rules.yaml', '--allow-provider-base', provider.base, '--log-level', 'warn',
    '--store', `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`, '--ledger', `${POSTGRES_URL}?schema=${schema}`, '--on-store-error', 'closed'];
  gateways.push(...(await Promise.all([0, 1, 2].map((i) => startGateway([...args, '--ledger-spool', `gateway-${i}.spool`])))));
}, 60_000);

afterAll(async () => {
  await Promise.all(
    gateways.map(async (g) => {
      if (g.proc.exitCode === null) {
        g.proc.kill('SIGKILL');
        await new Promise((r) => g.proc.once('exit', r));
      }
    }),
  );
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(i: number, who: Record<string, string>): Promise<number> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    'x-tokenlay-provider-key': PROVIDER_KEY,
    'x-tokenlay-provider-base': provider.base,
    'content-type': 'application/json',
  };
  for (const [k, v] of Object.entries(who)) headers[`x-tokenlay-${k}`] = v;
  // A connection per call: a socket kept alive across tests could be closed by the gateway's
  // idle timeout just as it is reused.
  return new Promise<number>((resolve, reject) => {
    const req = request(`${gateways[i % 3]!.url}/v1/chat/completions`, { method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function ledgerOnce(filter: Record<string, string>, count: number): Promise<Array<{ status: number; cost: number }>> {
  // Polled for at most 15 s: the rows reach PostgreSQL in the background.
  return vi.waitFor(
    async () => {
      const rows = await pgQuery<{ status: number; cost: number }>(`SELECT status, cost FROM "${schema}".tokenlay_ledger WHERE fields @> $1::jsonb`, [JSON.stringify(filter)]);
      if (rows.length < count) throw new Error(`${rows.length} of ${count} ledger rows for ${JSON.stringify(filter)}`);
      return rows;
    },
    { timeout: 15_000, interval: 200 },
  );
}

describe('three tokenlay gateway processes sharing --store redis://… and --ledger postgres://…', () => {
  it('a limit of 10 requests a day for a user: of 30 concurrent attempts spread across the three, exactly 10 succeed', async () => {
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i, { user: 'gwen', org: 'daily' })));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    const rows = await ledgerOnce({ user: 'gwen' }, 30);
    expect(rows.filter((r) => r.status === 200)).toHaveLength(10);
    // /v1/usage on any gateway reads the shared Postgres ledger: all 30 calls, from whichever gateway.
    const usage = await fetch(`${gateways[2]!.url}/v1/usage?group_by=user`, { headers: { authorization: `Bearer ${key}` } });
    const data = ((await usage.json()) as { data: Array<{ user: string; requests: number }> }).data;
    expect(data.find((d) => d.user === 'gwen')?.requests).toBe(30);
  }, 60_000);

  it('a cost cap with 150 concurrent calls across the three, a provider reporting the true prompt count: settled spend never passes the cap', async () => {
    // Without gpt-tokenizer a gateway bounds the input by the UTF-8 bytes of the message's text
    // (about 70 tokens here, $7), where the test's own estimate (with the tokenizer) is the least.
    const reservation = reservationEstimate('gpt-4o-mini', body, createPricer({ overrides: { 'gpt-4o-mini': { input: 100_000, output: 200_000 } } })).cost;
    const statuses = await Promise.all(Array.from({ length: 150 }, (_, i) => call(i, { user: `u${i}`, org: 'acme' })));
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    let calls = statuses.length;
    for (let wave = 0; wave < 30; wave++) {
      const more = await Promise.all(Array.from({ length: 15 }, (_, i) => call(i, { user: `w${i}`, org: 'acme' })));
      calls += more.length;
      if (more.every((s) => s === 429)) break;
    }
    const rows = await ledgerOnce({ org: 'acme' }, calls);
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(Math.floor(CAP / (2 * reservation)));
    expect(settled).toBeLessThanOrEqual(CAP);
    // And the cap is used: what is left cannot hold one more call's bound (at most twice the least).
    expect(settled).toBeGreaterThan(CAP - 2 * reservation);
  }, 60_000);

  it('refuses a bad --on-store-error with the accepted values', async () => {
    const proc = cli(['gateway', '--port', '0', '--on-store-error', 'maybe']);
    let err = '';
    proc.stderr!.on('data', (c) => (err += String(c)));
    const code = await new Promise((r) => proc.once('exit', r));
    expect(code).toBe(1);
    expect(err).toContain('tokenlay gateway: --on-store-error (or TOKENLAY_ON_STORE_ERROR) must be closed or open; got "maybe".');
  }, 30_000);
});
