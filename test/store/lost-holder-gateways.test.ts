import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvider, type Provider } from '../support/provider.js';
import { createKey, startGateway, type GatewayProcess } from './gateway-process.js';
import { pgQuery, POSTGRES_URL, REDIS_URL, usePostgresSchemas, useRedisPrefixes } from './services.js';

// Three `tokenlay gateway` processes on one Redis and one PostgreSQL; one is killed with -9 while
// calls are in flight. Its reservations must be charged, never given back: every call the provider
// answered is in the ledger, and no user passes the cap, before or after the leases run out.
const prefixes = useRedisPrefixes();
const schemas = usePostgresSchemas();
const USERS = 20;
const CAP = 50;
// Calls renew every half lease (at least every second): 3 s keeps a loaded machine from losing a live one.
const LEASE_MS = 3000;
const RULES = `version: '0.1'
rules:
  - id: capped
    if: { org: crash }
    then: { limits: [{ type: requests, max: ${CAP}, window: day, per: user }] }
prices:
  gpt-4o-mini: { input: 0.15, output: 0.6 }
`;

let provider: Provider;
let dir: string;
let schema: string;
let key: string;
let gatewayArgs: string[];
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  // Long enough that a killed gateway always has calls at the provider.
  provider = await startProvider({ usage: { prompt: 10, completion: 5 }, behavior: () => ({ kind: 'delay', ms: 400 }) });
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-lost-holder-'));
  writeFileSync(join(dir, 'rules.yaml'), RULES);
  schema = schemas();
  key = await createKey(dir, 'crash', `${POSTGRES_URL}?schema=${schema}`);
  const args = (gatewayArgs = ['--rules', 'rules.yaml', '--allow-provider-base', provider.base, '--log-level', 'warn', '--lease', String(LEASE_MS),
    '--store', `${REDIS_URL}?prefix=${encodeURIComponent(prefixes())}`, '--ledger', `${POSTGRES_URL}?schema=${schema}&flushIntervalMs=100`]);
  gateways.push(...(await Promise.all([0, 1, 2].map((i) => startGateway(dir, [...args, '--ledger-spool', `gateway-${i}.spool`])))));
}, 60_000);

afterAll(async () => {
  await Promise.all(
    gateways.map(async (g) => {
      if (g.proc.exitCode === null && g.proc.signalCode === null) {
        g.proc.kill('SIGKILL');
        await new Promise((r) => g.proc.once('exit', r));
      }
    }),
  );
  await provider?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One call for `user` through gateway `g`: its status, or 0 when the connection died. */
function call(g: number, user: string): Promise<number> {
  const headers = {
    authorization: `Bearer ${key}`,
    'x-tokenlay-provider-key': 'sk-lost-holder-provider-key',
    'x-tokenlay-provider-base': provider.base,
    'content-type': 'application/json',
    'x-tokenlay-user': user,
    'x-tokenlay-org': 'crash',
  };
  // The provider learns the user from the prompt, so it can count each user's calls itself.
  const body = { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `call for ${user} via ${g}` }] };
  return new Promise<number>((resolve) => {
    const req = request(`${gateways[g]!.url}/v1/chat/completions`, { method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end(JSON.stringify(body));
  });
}

const answered = () => provider.requests.filter((r) => r.path === '/v1/chat/completions');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a gateway killed with -9 while its calls are in flight (three gateways, Redis and PostgreSQL)', () => {
  it('charges its reservations when their leases end: the ledger holds every call the provider answered, and no user passes the cap', async () => {
    const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);
    let live = [0, 1, 2];
    let turn = 0;
    // Calls through gateway 0 not yet answered, and those of them that got a 200.
    let pendingAtZero = 0;
    let answeredByZero = 0;
    // Two callers a user, each calling until its user is refused (or 200 tries, a bound).
    const callers = users.flatMap((user) =>
      [0, 1].map(async () => {
        for (let tries = 0; tries < 200; tries++) {
          const g = live[turn++ % live.length]!;
          if (g === 0) pendingAtZero++;
          const status = await call(g, user);
          if (g === 0) {
            pendingAtZero--;
            if (status === 200) answeredByZero++;
          }
          if (status === 429) return;
        }
      }),
    );
    // Once the provider has answered 300 calls, gateway 0 gets no new call, and is killed as soon as
    // every call it has admitted is at the provider (each takes 400 ms there): calls in flight.
    const end = Date.now() + 60_000;
    await provider.received(300, (r) => r.path === '/v1/chat/completions', 60_000);
    live = [1, 2];
    const atProviderFromZero = () => answered().filter((r) => String(r.body.messages[0].content).endsWith('via 0')).length - answeredByZero;
    // Polled (bounded): pendingAtZero moves with the callers as well as with the provider's requests.
    while (atProviderFromZero() < pendingAtZero && Date.now() < end) await sleep(2);
    expect(pendingAtZero).toBeGreaterThan(0);
    gateways[0]!.proc.kill('SIGKILL');
    await Promise.all(callers);
    // Restarted as an operator would: rows its spool held but had not yet sent are sent now. The
    // calls it had in flight are nowhere but in their reservations.
    gateways[0] = await startGateway(dir, [...gatewayArgs, '--ledger-spool', 'gateway-0.spool']);
    // After the leases ran out: every user tries again; a lost reservation given back would let them pass.
    // Stays on the wall clock: the leases run out on the gateway processes' own clocks, which a test cannot move.
    await sleep(LEASE_MS + 500);
    const more = await Promise.all(users.flatMap((user) => Array.from({ length: 5 }, (_, i) => call(1 + (i % 2), user))));
    expect(more.every((s) => s === 429)).toBe(true);

    const perUser = new Map<string, number>();
    for (const r of answered()) {
      const user = /call for (\S+) via/.exec(String(r.body.messages[0].content))![1]!;
      perUser.set(user, (perUser.get(user) ?? 0) + 1);
    }
    expect(Math.max(...perUser.values())).toBeLessThanOrEqual(CAP);
    // Every user reached the cap: the load was enough to test it.
    expect([...perUser.values()].filter((n) => n === CAP)).toHaveLength(USERS);

    // Every call the provider answered is one ledger row (refusals excluded); the lost ones are flagged.
    type Row = { status: number; estimated: boolean; estimate_reason: string | null; user: string };
    let rows: Row[] = [];
    const ledgerRows = async () => (rows = await pgQuery<Row>(`SELECT status, estimated, estimate_reason, fields->>'user' AS user FROM "${schema}".tokenlay_ledger WHERE status <> 429`)).length;
    // Polled for at most 20 s; a mismatch is reported below with the kinds of rows there.
    await expect.poll(ledgerRows, { timeout: 20_000, interval: 200 }).toBe(answered().length).catch(() => undefined);
    // On a mismatch, say which kinds of rows are there (status / estimate reason → count).
    const kinds = rows.reduce<Record<string, number>>((m, r) => ({ ...m, [`${r.status}/${r.estimate_reason}`]: (m[`${r.status}/${r.estimate_reason}`] ?? 0) + 1 }), {});
    expect(rows.length, `ledger rows by kind: ${JSON.stringify(kinds)}`).toBe(answered().length);
    const lost = rows.filter((r) => r.estimate_reason === 'holder lost');
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.every((r) => r.estimated && r.status === 502)).toBe(true);
    for (const user of users) expect(rows.filter((r) => r.user === user).length).toBeLessThanOrEqual(CAP);
  }, 120_000);
});
