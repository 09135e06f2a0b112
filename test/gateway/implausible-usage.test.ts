import { describe, expect, it } from 'vitest';
import { gatewayRig, hello } from './support.js';

/** A metric's sample value from Prometheus text, e.g. `tokenlay_tokens_total{kind="output"}`. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('implausible usage through the gateway', () => {
  it('keeps a provider reporting completion_tokens: 1e308 out of the cost header, /metrics, /v1/usage and the dashboard', async () => {
    const rig = await gatewayRig({}, { rawUsage: { prompt_tokens: 10, completion_tokens: 1e308, total_tokens: 1e308 } });
    const headers = rig.headers({ 'x-tokenlay-user': 'ann' });
    for (let i = 0; i < 2; i++) {
      const answer = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(hello) });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-tokenlay-cost')).toMatch(/^\d+(\.\d+)?$/);
      expect(Number(answer.headers.get('x-tokenlay-output-tokens'))).toBeLessThan(100);
      expect(decodeURIComponent(answer.headers.get('x-tokenlay-warnings')!)).toContain('usage estimated: the provider reported usage no call can have');
    }
    await rig.gateway.engine.flush();
    const rows = await rig.gateway.store.ledger();
    expect(rows.map((r) => r.estimated)).toEqual([true, true]);

    const metrics = await (await fetch(`${rig.url}/metrics`)).text();
    const output = sample(metrics, 'tokenlay_tokens_total{kind="output"}');
    expect(Number.isFinite(output) && output < 200).toBe(true);
    expect(Number.isFinite(sample(metrics, 'tokenlay_cost_usd_total'))).toBe(true);

    const usage = (await (await fetch(`${rig.url}/v1/usage?group_by=user`, { headers: { authorization: `Bearer ${rig.key}` } })).json()) as any;
    expect(usage.data).toEqual([expect.objectContaining({ user: 'ann', requests: 2, cost: expect.any(Number), output_tokens: expect.any(Number) })]);
    expect(usage.data[0].cost).toBeLessThan(0.001);

    const signin = await fetch(`${rig.url}/dashboard/signin`, { method: 'POST', body: new URLSearchParams({ key: rig.key }), redirect: 'manual' });
    const cookie = signin.headers.get('set-cookie')!.split(';')[0]!;
    const report = await fetch(`${rig.url}/dashboard/api/report?window=24h`, { headers: { cookie } });
    expect(report.status).toBe(200);
    const body = (await report.json()) as any;
    expect(body.totals.calls).toBe(2);
    expect(body.totals.cost).toBeLessThan(0.001);
  });
});
