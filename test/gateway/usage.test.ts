import { describe, expect, it } from 'vitest';
import { usageCsv } from '../../src/gateway/usage-endpoint.js';
import { groupUsage } from '../../src/store/usage-summary.js';
import type { LedgerRow } from '../../src/store/types.js';
import { gatewayRig, hello } from './support.js';

const post = (url: string, headers: Record<string, string>, body: object) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });

describe('GET /v1/usage', () => {
  it("groups the calling key's usage by user, model or any field, as JSON or CSV, and never another account's", async () => {
    const rig = await gatewayRig();
    const otherKey = await rig.gateway.keys.create('globex');
    const other = { ...rig.headers(), authorization: `Bearer ${otherKey}` };
    for (let i = 0; i < 3; i++) await post(rig.url, rig.headers({ 'x-tokenlay-user': 'ann', 'x-tokenlay-feature': 'chat' }), hello);
    await post(rig.url, rig.headers({ 'x-tokenlay-user': 'bob', 'x-tokenlay-feature': 'search' }), { ...hello, model: 'gpt-4o' });
    await post(rig.url, { ...other, 'x-tokenlay-user': 'ann' }, hello);

    const get = (query: string, key = rig.key) => fetch(`${rig.url}/v1/usage?${query}`, { headers: { authorization: `Bearer ${key}` } });
    const byUser = (await (await get('group_by=user')).json()) as any;
    const ann = byUser.data.find((r: any) => r.user === 'ann');
    expect(ann).toEqual({ user: 'ann', requests: 3, input_tokens: 30, output_tokens: 15, cost: expect.any(Number) });
    expect(byUser.data.map((r: any) => r.user).sort()).toEqual(['ann', 'bob']);
    expect(ann.cost).toBeCloseTo(3 * (10 * 0.15 + 5 * 0.6) / 1e6, 12);

    const byModel = (await (await get('group_by=model&window=day')).json()) as any;
    expect(byModel.data.map((r: any) => [r.model, r.requests]).sort()).toEqual([['gpt-4o', 1], ['gpt-4o-mini', 3]]);
    const byFeature = (await (await get('group_by=feature&window=total')).json()) as any;
    expect(Object.keys(byFeature.data[0])).toEqual(['feature', 'requests', 'input_tokens', 'output_tokens', 'cost']);

    const theirs = (await (await get('group_by=user', otherKey)).json()) as any;
    expect(theirs.data).toEqual([{ user: 'ann', requests: 1, input_tokens: 10, output_tokens: 5, cost: expect.any(Number) }]);

    const csv = await get('group_by=user&format=csv');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe('user,requests,input_tokens,output_tokens,cost');
    expect(lines).toContain(`ann,3,30,15,${ann.cost}`);

    // Bounds: nothing before `from`, nothing at or after `to`.
    const future = (await (await get(`group_by=user&from=${new Date(Date.now() + 3_600_000).toISOString()}`)).json()) as any;
    expect(future.data).toEqual([]);
    const past = (await (await get('group_by=user&to=2020-01-01')).json()) as any;
    expect(past.data).toEqual([]);
  });

  it('refuses a bad group_by, window, from or format with 400 naming the parameter', async () => {
    const rig = await gatewayRig();
    for (const [query, param] of [['group_by=country', 'group_by'], ['window=fortnight', 'window'], ['from=yesterday', 'from'], ['format=xml', 'format']] as const) {
      const res = await fetch(`${rig.url}/v1/usage?${query}`, { headers: { authorization: `Bearer ${rig.key}` } });
      expect(res.status, query).toBe(400);
      const { error } = (await res.json()) as any;
      expect(error.param).toBe(param);
      expect(error.message).toContain(query.split('=')[1]);
    }
    expect((await fetch(`${rig.url}/v1/usage?group_by=user`)).status).toBe(401);
  });

  it('writes CSV that a spreadsheet cannot run as a formula', () => {
    const row = (user: string): LedgerRow => ({ time: 0, fields: { user }, modelRequested: 'm', modelUsed: 'm', endpoint: '/v1/chat/completions', inputTokens: 1, outputTokens: 1, cachedTokens: 0, cost: 0.1, ruleId: null, action: 'allow', status: 200, latencyMs: 1, estimated: false });
    const csv = usageCsv(groupUsage([row('=HYPERLINK("x")'), row('a,b')], 'user'), 'user');
    expect(csv).toContain(`"'=HYPERLINK(""x"")"`);
    expect(csv).toContain('"a,b"');
  });
});

describe('GET /metrics', () => {
  it('counts requests by status and action, blocks by rule, cost, tokens, upstream latency, in Prometheus text', async () => {
    const rules = { rules: [{ id: 'cap', if: {}, then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }] } }] };
    const rig = await gatewayRig({ rules });
    await post(rig.url, rig.headers({ 'x-tokenlay-user': 'ann' }), hello);
    await post(rig.url, rig.headers({ 'x-tokenlay-user': 'ann' }), hello);
    await fetch(`${rig.url}/v1/health`);
    await rig.gateway.engine.flush();
    const res = await fetch(`${rig.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^tokenlay_requests_total\{status="200",action="allow"\} 1$/m);
    expect(text).toMatch(/^tokenlay_requests_total\{status="429",action="block"\} 1$/m);
    expect(text).toMatch(/^tokenlay_requests_total\{status="401",action="refuse"\} 1$/m);
    expect(text).toMatch(/^tokenlay_blocks_total\{rule="cap"\} 1$/m);
    expect(text).toMatch(/^tokenlay_tokens_total\{kind="input"\} 10$/m);
    expect(text).toMatch(/^tokenlay_cost_usd_total \d/m);
    expect(text).toMatch(/^tokenlay_upstream_latency_seconds_count\{status="200"\} 1$/m);
    expect(text).toContain('tokenlay_store_errors_total');
  });
});

describe('logs', () => {
  it('writes one JSON line per call with account, fields, models, status, rule, action, tokens, cost and latency', async () => {
    const rig = await gatewayRig();
    await post(rig.url, rig.headers({ 'x-tokenlay-user': 'ann', 'x-tokenlay-plan': 'pro' }), hello);
    await post(rig.url, rig.headers({ 'x-tokenlay-user': 'ann' }), { ...hello, stream: true }).then((r) => r.text());
    await rig.gateway.engine.flush();
    const calls = rig.log.lines().filter((l) => l.msg === 'call');
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      account: 'acme',
      fields: { user: 'ann', plan: 'pro' },
      model_requested: 'gpt-4o-mini',
      model_used: 'gpt-4o-mini',
      status: 200,
      rule: null,
      action: 'allow',
      input_tokens: 10,
      output_tokens: 5,
      cost: expect.any(Number),
      latency_ms: expect.any(Number),
    });
    expect(JSON.stringify(calls)).not.toContain('Say hello');
    expect(JSON.stringify(calls)).not.toContain('hello anonymous');
  });
});

describe('createGateway', () => {
  it('is itself a Node request listener: http.createServer(createGateway()) serves calls', async () => {
    const { createGateway, createLogger } = await import('../../src/gateway/index.js');
    const { listen } = await import('../support/http.js');
    const { captureLog, tempDir, onCleanup, PROVIDER_KEY } = await import('./support.js');
    const { startProvider } = await import('../support/provider.js');
    const provider = await startProvider();
    onCleanup(() => provider.close());
    const dir = tempDir();
    const gateway = createGateway({ store: 'memory', keys: `${dir}/keys.db`, allowProviderBases: [provider.base], logger: createLogger({ destination: captureLog().stream }) });
    onCleanup(() => gateway.close());
    const server = await listen(gateway);
    onCleanup(() => server.close());
    const key = await gateway.keys.create('acme');
    const res = await post(server.url, { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': PROVIDER_KEY, 'x-tokenlay-provider-base': provider.base, 'content-type': 'application/json' }, hello);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokenlay-rule-action')).toBe('allow');
    expect(gateway.handler).toBe(gateway);
  });
});
