import OpenAI from 'openai';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayRig } from '../gateway/support.js';
import { expectAccessible, launchChromium, screenshot, tableRows, textOf } from './browser.js';

// GET /dashboard on `tokenlay gateway`: sign in with a tokenlay key, see that account's calls,
// made through the gateway by the real OpenAI SDK.
const RULES = {
  version: '0.1',
  // 10 input + 5 output tokens a call at these prices: $0.02.
  prices: { 'gpt-4o-mini': { input: 1000, output: 2000 } },
  plans: { pro: { price: 0.03, period: 'month' }, free: { price: 0 } },
  rules: [
    {
      id: 'free-cap',
      if: { plan: 'free' },
      // Two limits: ben is refused by the requests one; his cost counter has nothing to do with it.
      then: { limits: [{ type: 'requests', max: 2, window: 'day', per: 'user' }, { type: 'cost', max: 1, window: 'day', per: 'user' }] },
    },
  ],
};

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe('the gateway dashboard', () => {
  it('signs in with a key, shows the calls made through the gateway, changes with window and filter, flags the unprofitable user, and shows another key nothing', async () => {
    const rig = await gatewayRig({ rules: RULES });
    const globexKey = await rig.gateway.keys.create('globex');
    const sdk = (user: string, plan: string) =>
      new OpenAI({
        apiKey: rig.key,
        baseURL: `${rig.url}/v1`,
        maxRetries: 0,
        defaultHeaders: { 'x-tokenlay-provider-key': 'sk-provider', 'x-tokenlay-provider-base': rig.provider.base, 'x-tokenlay-user': user, 'x-tokenlay-plan': plan },
      });
    const hello = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello.' }] };
    for (let i = 0; i < 2; i++) await sdk('ann', 'pro').chat.completions.create(hello);
    for (let i = 0; i < 2; i++) await sdk('ben', 'free').chat.completions.create(hello);
    await expect(sdk('ben', 'free').chat.completions.create(hello)).rejects.toMatchObject({ status: 429 });

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${rig.url}/dashboard`);
    expect(page.url()).toBe(`${rig.url}/dashboard/`);
    await page.fill('#key', rig.key);
    await page.click('button[type=submit]');
    await page.waitForSelector('body[data-loaded]');
    expect(page.url()).toBe(`${rig.url}/dashboard/`);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'tokenlay_dashboard_key', httpOnly: true, sameSite: 'Strict', path: '/dashboard/' });
    expect(await textOf(page, '#account')).toBe('acme');
    // Calls are the calls sent to the provider; the refused one is counted apart.
    expect(await textOf(page, '#total-calls')).toBe('4');
    expect(await textOf(page, '#total-blocked')).toBe('1');
    expect(await textOf(page, '#total-cost')).toBe('$0.08');
    expect((await tableRows(page, '#breakdown')).map((r) => [r[0], r[1], r[2], r[4]])).toEqual([
      ['ann', '2', '0', '$0.04'],
      ['ben', '2', '1', '$0.04'],
    ]);
    expect(await tableRows(page, '#limits')).toEqual([
      ['user=ben', 'free-cap', 'requests per day', '2 of 2 requests (100 %)', 'Blocked', `${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)} 00:00:00 UTC`],
    ]);
    expect((await tableRows(page, '#unprofitable')).map((r) => [r[0], r[1], r[4]])).toEqual([
      ['ben', 'free', '-$0.04'],
      ['ann', 'pro', '-$0.01'],
    ]);
    await screenshot(page, 'gateway-signed-in');
    await expectAccessible(page);

    // A filter, then a window, change the numbers (the limits too); the page keeps up with new calls.
    await page.fill('#filter-value', 'ann');
    await page.click('#filter button[type=submit]');
    await page.waitForFunction(() => document.getElementById('total-calls')!.textContent === '2');
    expect(await tableRows(page, '#limits')).toEqual([['No one matching user = ann is above 80 % of a limit.']]);
    await page.check('input[name=window][value="mtd"]');
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('Updated'));
    expect(await textOf(page, '#total-calls')).toBe('2');
    await sdk('ann', 'pro').chat.completions.create(hello);
    await page.waitForFunction(() => document.getElementById('total-calls')!.textContent === '3', undefined, { timeout: 15_000 });
    await context.close();

    // Another key: its account has no calls, and asking for acme's users by filter shows nothing.
    const other = await browser.newContext();
    const page2 = await other.newPage();
    await page2.goto(`${rig.url}/dashboard/`);
    await page2.fill('#key', globexKey);
    await page2.click('button[type=submit]');
    await page2.waitForSelector('body[data-loaded]');
    expect(await textOf(page2, '#account')).toBe('globex');
    expect(await page2.isVisible('#empty')).toBe(true);
    const report = await page2.evaluate(() => fetch('api/report?window=30d&user=ann').then((r) => r.json()));
    expect(report.totals.calls).toBe(0);
    expect(report.margins.users).toEqual([]);
    expect(report.limits).toEqual([]);
    await screenshot(page2, 'gateway-other-key');
    await other.close();

    // The cookie never reaches the API paths, and the dashboard API refuses without it.
    expect((await fetch(`${rig.url}/dashboard/api/report`)).status).toBe(401);
  });
});
