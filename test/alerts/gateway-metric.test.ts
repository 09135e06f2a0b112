import { describe, expect, it } from 'vitest';
import { gatewayRig, hello } from '../gateway/support.js';
import { downUrl, startReceiver } from './receiver.js';

describe('alerts behind the gateway', () => {
  it('counts sent and failed alerts in /metrics and logs the failure', async () => {
    const receiver = await startReceiver();
    const down = await downUrl();
    const rig = await gatewayRig({
      rules: {
        version: '0.1',
        rules: [
          {
            id: 'cap',
            if: {},
            then: {
              limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }],
              on_limit_exceeded: { action: 'block', notify: [{ type: 'webhook', url: `${receiver.url}/ok` }, { type: 'webhook', url: `${down}/hook-secret` }] },
            },
          },
        ],
      },
    });
    try {
      const send = () => fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ 'x-tokenlay-user': 'ann' }), body: JSON.stringify(hello) });
      expect((await send()).status).toBe(200);
      expect((await send()).status).toBe(429);
      await expect.poll(() => receiver.received.length).toBe(1);
      expect(receiver.received[0]!.body).toMatchObject({ event: 'tokenlay.limit.blocked', rule_id: 'cap' });
      // The receiver that is down fails 4 tries with backoff (0.5 + 1 + 2 s), then is counted.
      await expect
        .poll(async () => (await (await fetch(`${rig.url}/metrics`)).text()).match(/^tokenlay_alerts_total\{result="failed"\} (\d+)$/m)?.[1], { timeout: 15_000, interval: 250 })
        .toBe('1');
      const metrics = await (await fetch(`${rig.url}/metrics`)).text();
      expect(metrics).toMatch(/^tokenlay_alerts_total\{result="sent"\} 1$/m);
      expect(rig.log.text()).toContain(`alert to ${down} failed after 4 tries`);
      expect(rig.log.text()).not.toContain('hook-secret');
    } finally {
      await receiver.close();
    }
  });
});
