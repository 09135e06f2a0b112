import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { gatewayRig, hello } from './support.js';

// Three calls of $0.000315 (10 input and 5 output tokens at $21 a million): summed as floats,
// that is 0.0009450000000000001. Every place that shows a sum must show 0.000945.
const PRICES = { 'gpt-4o-mini': { input: 21, output: 21 } };
const post = (url: string, headers: Record<string, string>, body: object) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });

describe('sums of money without float noise', () => {
  it('shows 3 × $0.000315 as 0.000945 in /metrics, /v1/usage, logs, tokenlay usage (table, JSON, CSV) and tokenlay export', async () => {
    const rig = await gatewayRig({ prices: PRICES });
    const costs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(rig.url, rig.headers({ 'x-tokenlay-user': 'ann' }), hello);
      expect(res.status).toBe(200);
      costs.push(res.headers.get('x-tokenlay-cost')!);
    }
    await rig.gateway.engine.flush();
    // x-tokenlay-cost keeps its decimal format.
    expect(costs).toEqual(['0.000315', '0.000315', '0.000315']);

    const metrics = await (await fetch(`${rig.url}/metrics`)).text();
    expect(metrics).toMatch(/^tokenlay_cost_usd_total 0\.000945$/m);

    const get = (query: string) => fetch(`${rig.url}/v1/usage?${query}`, { headers: { authorization: `Bearer ${rig.key}` } });
    const json = (await (await get('group_by=user')).json()) as { data: Array<{ user: string; cost: number }> };
    expect(JSON.stringify(json.data)).toContain('"cost":0.000945}');
    expect(await (await get('group_by=user&format=csv')).text()).toContain('ann,3,30,15,0.000945\n');

    const logged = rig.log.lines().filter((l) => l.msg === 'call').map((l) => String(l.cost));
    expect(logged).toEqual(['0.000315', '0.000315', '0.000315']);

    const store = `sqlite:${join(rig.dir, 'usage.db')}`;
    const csv = await runCli(['usage', '--csv', '--store', store]);
    expect(csv.stdout).toContain('ann,3,0,30,15,0,0.000945');
    const asJson = await runCli(['usage', '--json', '--store', store]);
    expect(asJson.stdout).toContain('"cost": 0.000945\n');
    expect(asJson.stdout).not.toMatch(/0\.000945\d/);
    const table = await runCli(['usage', '--store', store]);
    expect(table.stdout).toMatch(/total .*\$0\.0009/);
    const file = join(rig.dir, 'export.csv');
    const exported = await runCli(['export', '--csv', file, '--store', store]);
    expect(exported.code).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1);
    expect(lines.every((l) => l.includes(',0.000315,'))).toBe(true);
  }, 60_000);

  it("prices each call as @pydantic/genai-prices' calcPrice does, to the 1e-10 USD unit", async () => {
    const rig = await gatewayRig();
    const res = await post(rig.url, rig.headers({ 'x-tokenlay-user': 'ann' }), hello);
    await rig.gateway.engine.flush();
    const reference = calcPrice({ input_tokens: 10, output_tokens: 5 }, 'gpt-4o-mini', { providerId: 'openai' });
    const expected = Math.round(Number(reference!.total_price) * 1e10) / 1e10;
    expect(Number(res.headers.get('x-tokenlay-cost'))).toBeCloseTo(expected, 12);
    const [row] = await rig.gateway.engine.store.ledger({ fields: { user: 'ann' } });
    expect(row!.cost).toBe(expected);
  });
});
