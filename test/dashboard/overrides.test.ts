import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayRig, type GatewayRig } from '../gateway/support.js';
import { expectAccessible, launchChromium, screenshot, tableRows } from './browser.js';

// The Limits panel lists the limits set at run time and the balances of credits, of the signed-in
// key's account only.
const RULES = {
  version: '0.1',
  // 10 input + 5 output tokens a call at these prices: $2.
  prices: { 'gpt-4o-mini': { input: 100_000, output: 200_000 } },
  rules: [
    { id: 'prepaid', if: { plan: 'prepaid' }, then: { limits: [{ type: 'credits', per: 'user' }] } },
    { id: 'daily', if: {}, then: { limits: [{ type: 'requests', max: 5, window: 'day', per: 'user' }] } },
  ],
};

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

async function signIn(rig: GatewayRig, key: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${rig.url}/dashboard/`);
  await page.fill('#key', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('body[data-loaded]');
  return page;
}

describe('the dashboard\'s Limits panel', () => {
  it('lists the overrides and balances of the signed-in account, with who set them, and none of another account\'s', async () => {
    const rig = await gatewayRig({ rules: RULES }, { usage: { prompt: 10, completion: 5 } });
    const boss = await rig.gateway.keys.create('boss', { admin: true });
    const admin = (method: string, path: string, body: unknown) =>
      fetch(`${rig.url}${path}`, { method, headers: { authorization: `Bearer ${boss}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => {
        expect(r.status).toBe(200);
      });
    await admin('PUT', '/v1/admin/limits', { user: 'alice', type: 'cost', max: 50, window: 'month', until: '2099-01-31', note: 'annual plan' });
    await admin('PUT', '/v1/admin/limits', { org: 'acme', type: 'requests', max: 100, window: 'day' });
    await admin('POST', '/v1/admin/credits', { user: 'carol', usd: 10 });
    const call = await fetch(`${rig.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...rig.headers(), authorization: `Bearer ${boss}`, 'x-tokenlay-user': 'carol', 'x-tokenlay-plan': 'prepaid' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(call.status).toBe(200);
    await call.arrayBuffer();

    const page = await signIn(rig, boss);
    const rows = await tableRows(page, '#overrides');
    expect(rows).toHaveLength(2);
    // Set until 2099-01-31: the day given is the day shown.
    expect(rows).toContainEqual(['user=alice', '$50.00 per month', 'end of 2099-01-31 UTC', expect.stringMatching(/^key:boss, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/), 'annual plan']);
    expect(rows).toContainEqual(['org=acme', '100 requests per day', 'until cleared', expect.stringMatching(/^key:boss, /), '']);
    expect(await tableRows(page, '#credits')).toEqual([['user=carol', '$10.00', '$2.00', '$8.00']]);
    await screenshot(page, 'limits-overrides');
    await expectAccessible(page);

    const other = await signIn(rig, rig.key);
    expect(await tableRows(other, '#overrides')).toEqual([['No limit is set at run time.']]);
    expect(await tableRows(other, '#credits')).toEqual([['No credits granted.']]);

    // A balance granted for no account (tokenlay credits add without --account) is drawn by every
    // account without one of its own, so each such account's panel lists it.
    await rig.gateway.engine.credits.add({ user: 'dora', usd: 5 });
    await rig.gateway.engine.credits.add({ user: 'carol', usd: 7 });
    const shared = await signIn(rig, rig.key);
    expect(await tableRows(shared, '#credits')).toEqual([['user=dora (every account)', '$5.00', '$0', '$5.00'], ['user=carol (every account)', '$7.00', '$0', '$7.00']]);
    // Boss has carol's balance of its own, which its calls draw instead.
    const own = await signIn(rig, boss);
    expect(await tableRows(own, '#credits')).toEqual([['user=dora (every account)', '$5.00', '$0', '$5.00'], ['user=carol', '$10.00', '$2.00', '$8.00']]);
  }, 60_000);
});
