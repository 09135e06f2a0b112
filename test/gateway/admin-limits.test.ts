import { describe, expect, it } from 'vitest';
import { gatewayRig, hello, type GatewayRig } from './support.js';

const rules = {
  rules: [
    { id: 'prepaid', if: { plan: 'prepaid' }, then: { limits: [{ type: 'credits', per: 'user' }] } },
    // Counted per account too: the same user name in two accounts is two people.
    { id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: ['account', 'user'] }] } },
  ],
};

async function admin(rig: GatewayRig, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${rig.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

async function chat(rig: GatewayRig, key: string, fields: Record<string, string>): Promise<number> {
  const headers = { ...rig.headers(), authorization: `Bearer ${key}` } as Record<string, string>;
  for (const [k, v] of Object.entries(fields)) headers[`x-tokenlay-${k}`] = v;
  const res = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ ...hello, max_tokens: 5 }) });
  await res.arrayBuffer();
  return res.status;
}

describe('the gateway\'s admin API: /v1/admin/limits and /v1/admin/credits', () => {
  it('refuses an ordinary key with 403 admin_key_required and a body that says how to get an admin key', async () => {
    const rig = await gatewayRig({ rules });
    for (const [method, path, body] of [
      ['GET', '/v1/admin/limits', undefined],
      ['PUT', '/v1/admin/limits', { user: 'alice', type: 'requests', max: 5, window: 'day' }],
      ['DELETE', '/v1/admin/limits?user=alice&type=requests', undefined],
      ['GET', '/v1/admin/credits', undefined],
      ['POST', '/v1/admin/credits', { user: 'alice', usd: 10 }],
    ] as const) {
      const { status, json } = await admin(rig, rig.key, method, path, body);
      expect(status, `${method} ${path}`).toBe(403);
      expect(json.error).toMatchObject({ type: 'permission_error', code: 'admin_key_required' });
      expect(json.error.message).toMatch(/account "acme" is not an admin key.*tokenlay keys create --name NAME --admin/);
    }
    // Nothing was changed: alice still has one call a day.
    expect(await chat(rig, rig.key, { user: 'alice' })).toBe(200);
    expect(await chat(rig, rig.key, { user: 'alice' })).toBe(429);
    const none = await fetch(`${rig.url}/v1/admin/limits`);
    expect(none.status).toBe(401);
  });

  it('an admin key sets, lists and clears its own account\'s overrides; another account\'s calls and list are untouched', async () => {
    const rig = await gatewayRig({ rules });
    const boss = await rig.gateway.keys.create('boss', { admin: true });
    const other = await rig.gateway.keys.create('other', { admin: true });
    const put = await admin(rig, boss, 'PUT', '/v1/admin/limits', { user: 'alice', type: 'requests', max: 3, window: 'day', note: 'launch week', by: 'spoofed' });
    expect(put.status).toBe(200);
    expect(put.json.limit).toMatchObject({ account: 'boss', target: 'user', value: 'alice', type: 'requests', max: 3, window: 'day', note: 'launch week', setBy: 'key:boss' });
    // Times on the wire are ISO 8601, as resets_at is: an override set until a day ends when that day does.
    const dated = await admin(rig, boss, 'PUT', '/v1/admin/limits', { org: 'initech', type: 'cost', max: 5, window: 'month', until: '2099-01-31' });
    expect(dated.json.limit.until).toBe('2099-02-01T00:00:00Z');
    expect(dated.json.limit.setAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    expect((await admin(rig, boss, 'DELETE', '/v1/admin/limits?org=initech&type=cost')).status).toBe(200);

    const statuses = async (key: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(await chat(rig, key, { user: 'alice' }));
      return out;
    };
    expect(await statuses(boss, 4)).toEqual([200, 200, 200, 429]);
    // The same user name in another account keeps the rules file's limit.
    expect(await statuses(rig.key, 2)).toEqual([200, 429]);

    const listed = await admin(rig, boss, 'GET', '/v1/admin/limits');
    expect(listed.json.data).toHaveLength(1);
    expect(listed.json.data[0]).toMatchObject({ until: null });
    expect(listed.json.changes.map((c: any) => c.action)).toEqual(['clear', 'set', 'set']);
    expect(listed.json.changes[2]).toMatchObject({ action: 'set', by: 'key:boss', account: 'boss', value: 'alice', max: 3 });
    expect(listed.json.changes[0].time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    expect((await admin(rig, other, 'GET', '/v1/admin/limits')).json).toMatchObject({ data: [], changes: [] });
    // Another admin cannot clear it: it is not in that account.
    expect((await admin(rig, other, 'DELETE', '/v1/admin/limits?user=alice&type=requests')).status).toBe(404);

    const cleared = await admin(rig, boss, 'DELETE', '/v1/admin/limits?user=alice&type=requests');
    expect(cleared).toEqual({ status: 200, json: { cleared: true } });
    expect((await admin(rig, boss, 'DELETE', '/v1/admin/limits', { user: 'alice', type: 'requests' })).status).toBe(404);
    expect((await admin(rig, boss, 'GET', '/v1/admin/limits')).json.changes.map((c: any) => c.action)).toEqual(['clear', 'clear', 'set', 'set']);
  });

  it('answers bad input 400 with the field as param, and an unknown admin method 405', async () => {
    const rig = await gatewayRig({ rules });
    const boss = await rig.gateway.keys.create('boss', { admin: true });
    const bad = await admin(rig, boss, 'PUT', '/v1/admin/limits', { user: 'alice', type: 'cost', max: 'lots', window: 'month' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'invalid_override', param: 'max' });
    expect(bad.json.error.message).toMatch(/max must be a number ≥ 0.*"lots"/);
    const noMax = await admin(rig, boss, 'PUT', '/v1/admin/limits', { user: 'alice', type: 'cost', window: 'month' });
    expect(noMax.json.error).toMatchObject({ code: 'invalid_override', param: 'max' });
    expect(noMax.json.error.message).toBe('tokenlay limits: max is missing; give the new limit (USD), e.g. --max 50.');
    const notJson = await fetch(`${rig.url}/v1/admin/limits`, { method: 'PUT', headers: { authorization: `Bearer ${boss}` }, body: '{user:' });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.code).toBe('invalid_json');
    expect((await admin(rig, boss, 'POST', '/v1/admin/limits', {})).status).toBe(405);
    const credit = await admin(rig, boss, 'POST', '/v1/admin/credits', { plan: 'pro', usd: 5 });
    expect(credit.status).toBe(400);
    expect(credit.json.error.param).toBe('plan');
    // A balance read for a plan is refused as a grant is, not answered with every balance.
    await admin(rig, boss, 'POST', '/v1/admin/credits', { user: 'alice', usd: 5 });
    const planBalance = await admin(rig, boss, 'GET', '/v1/admin/credits?plan=pro');
    expect(planBalance.status).toBe(400);
    expect(planBalance.json.error).toMatchObject({ code: 'invalid_override', param: 'plan' });
    expect(planBalance.json.error.message).toMatch(/^tokenlay credits: a balance belongs to a user or an org, not a plan/);
  });

  it('grants credits to its account\'s users; a credits limit draws them, and the balance is read back', async () => {
    const rig = await gatewayRig({ rules, prices: { 'gpt-4o-mini': { input: 100_000, output: 200_000 } } }, { usage: { prompt: 10, completion: 5 } });
    const boss = await rig.gateway.keys.create('boss', { admin: true });
    expect(await chat(rig, boss, { user: 'alice', plan: 'prepaid' })).toBe(429);
    const granted = await admin(rig, boss, 'POST', '/v1/admin/credits', { user: 'alice', usd: 10, note: 'invoice 9' });
    expect(granted.status).toBe(200);
    expect(granted.json.balance).toMatchObject({ account: 'boss', target: 'user', value: 'alice', granted: 10, remaining: 10 });
    expect(await chat(rig, boss, { user: 'alice', plan: 'prepaid' })).toBe(200);
    // Another account's alice has no balance of her own.
    expect(await chat(rig, rig.key, { user: 'alice', plan: 'prepaid' })).toBe(429);
    const balance = await admin(rig, boss, 'GET', '/v1/admin/credits?user=alice');
    expect(balance.json.balance).toMatchObject({ granted: 10, used: 2, reserved: 0, remaining: 8 });
    expect((await admin(rig, boss, 'GET', '/v1/admin/credits')).json.data).toHaveLength(1);
    await rig.gateway.engine.flush();
    const rows = await rig.gateway.store.ledger({ fields: { account: 'boss' } });
    expect(rows.find((r) => r.action === 'credit')).toMatchObject({ fields: { user: 'alice', account: 'boss', credit_usd: '10', credit_by: 'key:boss' }, cost: 0 });
  });

  it('credits granted for no account (tokenlay credits add without --account) serve every account\'s calls that have no balance of their own', async () => {
    const rig = await gatewayRig({ rules, prices: { 'gpt-4o-mini': { input: 100_000, output: 200_000 } } }, { usage: { prompt: 10, completion: 5 } });
    // What `tokenlay credits add --user dan --usd 10` does on the gateway's store: a grant of no account.
    await rig.gateway.engine.credits.add({ user: 'dan', usd: 10, by: 'cli:ops' });
    expect(await chat(rig, rig.key, { user: 'dan', plan: 'prepaid' })).toBe(200);
    expect(await rig.gateway.engine.credits.balance({ user: 'dan' })).toMatchObject({ account: '', granted: 10, used: 2, reserved: 0, remaining: 8 });
    // An account's own balance wins: boss's dan draws boss's grant, and the shared one is left alone.
    const boss = await rig.gateway.keys.create('boss', { admin: true });
    expect((await admin(rig, boss, 'POST', '/v1/admin/credits', { user: 'dan', usd: 6 })).status).toBe(200);
    expect(await chat(rig, boss, { user: 'dan', plan: 'prepaid' })).toBe(200);
    expect((await admin(rig, boss, 'GET', '/v1/admin/credits?user=dan')).json.balance).toMatchObject({ account: 'boss', granted: 6, used: 2, remaining: 4 });
    expect(await rig.gateway.engine.credits.balance({ user: 'dan' })).toMatchObject({ account: '', used: 2, remaining: 8 });
    // The shared balance never goes below zero, whichever accounts draw it.
    expect(await chat(rig, rig.key, { user: 'dan', plan: 'prepaid' })).toBe(200);
    for (let i = 0; i < 4; i++) await chat(rig, rig.key, { user: 'dan', plan: 'prepaid' });
    const left = await rig.gateway.engine.credits.balance({ user: 'dan' });
    expect(left.remaining).toBeGreaterThanOrEqual(0);
    expect(left.used).toBeLessThanOrEqual(10);
  });
});
