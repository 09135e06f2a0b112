/**
 * Login CSRF: a page on another site must not sign the victim's browser into the attacker's
 * account (nor out of their own). Every state-changing dashboard route refuses a request that a
 * browser marks as cross-site (Sec-Fetch-Site) or sends from another origin (Origin), while a
 * sign-in from the dashboard's own page still works.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenlayDashboard } from 'tokenlay/dashboard';
import { launchChromium } from '../dashboard/browser.js';
import { listen } from '../support/http.js';
import { gatewayRig, onCleanup } from '../gateway/support.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(() => browser?.close());

const form = (key: string) => new URLSearchParams({ key }).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('dashboard sign-in refuses cross-site requests', () => {
  it('answers 403 and sets no cookie for a cross-site sign-in or sign-out, by Sec-Fetch-Site or by Origin', async () => {
    const rig = await gatewayRig();
    const attackerKey = await rig.gateway.keys.create('mallory');
    const crossSite: Array<Record<string, string>> = [
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { 'sec-fetch-site': 'same-site', origin: 'http://evil.127.0.0.1.nip.io' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: rig.url.replace('127.0.0.1', 'localhost') },
    ];
    for (const headers of crossSite) {
      for (const path of ['/dashboard/signin', '/dashboard/signout']) {
        const res = await fetch(rig.url + path, { method: 'POST', headers: { ...FORM, ...headers }, body: form(attackerKey), redirect: 'manual' });
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
        expect(res.headers.getSetCookie(), JSON.stringify(headers)).toEqual([]);
        expect(await res.text()).toContain('another site');
      }
    }
  });

  it('signs in from its own page (same-origin), and from a client that sends neither header', async () => {
    const rig = await gatewayRig();
    const sameOrigin: Array<Record<string, string>> = [{ 'sec-fetch-site': 'same-origin', origin: rig.url }, { origin: rig.url }, {}];
    for (const headers of sameOrigin) {
      const res = await fetch(rig.url + '/dashboard/signin', { method: 'POST', headers: { ...FORM, ...headers }, body: form(rig.key), redirect: 'manual' });
      expect(res.status, JSON.stringify(headers)).toBe(303);
      expect(res.headers.getSetCookie()[0]).toContain('tokenlay_dashboard_key=');
    }
  });

  it('behind a proxy that rewrites Host, a same-origin sign-in is known by X-Forwarded-Host', async () => {
    const rig = await gatewayRig();
    const headers = { origin: 'https://tokenlay.example.com', 'x-forwarded-host': 'tokenlay.example.com' };
    const res = await fetch(rig.url + '/dashboard/signin', { method: 'POST', headers: { ...FORM, ...headers }, body: form(rig.key), redirect: 'manual' });
    expect(res.status).toBe(303);
  });

  it('holds for the dashboard mounted in an app too', async () => {
    const app = await listen(tokenlayDashboard({ store: 'memory', auth: { viewerFor: (key) => (key === 'tl_app_key' ? { account: 'acme', fields: {} } : null) } }));
    onCleanup(() => app.close());
    const cross = await fetch(app.url + '/signin', { method: 'POST', headers: { ...FORM, 'sec-fetch-site': 'cross-site' }, body: form('tl_app_key'), redirect: 'manual' });
    expect(cross.status).toBe(403);
    expect(cross.headers.getSetCookie()).toEqual([]);
    const same = await fetch(app.url + '/signin', { method: 'POST', headers: { ...FORM, 'sec-fetch-site': 'same-origin', origin: app.url }, body: form('tl_app_key'), redirect: 'manual' });
    expect(same.status).toBe(303);
  });

  it("in a browser: another site's auto-posted form does not replace the victim's sign-in", async () => {
    const rig = await gatewayRig();
    const attackerKey = await rig.gateway.keys.create('mallory');
    // The attacker's page, on another site (localhost is not 127.0.0.1 to a browser).
    const evil = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<form id=f method=post action="${rig.url}/dashboard/signin"><input name=key value="${attackerKey}"></form><script>document.getElementById('f').submit()</script>`);
    });
    onCleanup(() => evil.close());
    const context = await browser.newContext();
    onCleanup(() => context.close());
    const page = await context.newPage();
    await page.goto(rig.url + '/dashboard/');
    await page.fill('#key', rig.key);
    await page.click('button[type=submit]');
    await page.waitForSelector('body[data-loaded]');
    const before = await context.cookies();
    expect(before.map((c) => c.value)).toEqual([encodeURIComponent(rig.key)]);

    const landed = page.waitForResponse((r) => r.url() === `${rig.url}/dashboard/signin`);
    await page.goto(evil.url.replace('127.0.0.1', 'localhost') + '/');
    const status = (await landed).status();
    expect((await context.cookies()).map((c) => c.value)).toEqual([encodeURIComponent(rig.key)]);
    expect(status).toBe(403);
  });
});
