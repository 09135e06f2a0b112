import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenlayDashboard, type DashboardViewer } from 'tokenlay/dashboard';
import { createEmbeddedFetch, type EmbeddedFetch } from '../../src/engine/embedded.js';
import { listen, type Listening } from '../support/http.js';
import { startProvider, type Provider } from '../support/provider.js';
import { expectAccessible, launchChromium, screenshot, tableRows, textOf } from './browser.js';

// Sign-in with a tokenlay key: each key sees only its own account's calls (here, an org).
const KEYS: Record<string, DashboardViewer> = {
  'tl_acme_0123456789abcdef': { account: 'acme', fields: { org: 'acme' } },
  'tl_globex_fedcba9876543210': { account: 'globex', fields: { org: 'globex' } },
};

let dir: string;
let provider: Provider;
let embedded: EmbeddedFetch;
let server: Listening;
let browser: Browser;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-signin-'));
  provider = await startProvider();
  embedded = createEmbeddedFetch({ rules: { version: '0.1', rules: [] }, store: `sqlite:${join(dir, 'usage.db')}` });
  for (const user of ['ann', 'ann', 'abe']) {
    const openai = new OpenAI({ apiKey: 'sk-x', baseURL: provider.base, fetch: embedded, defaultHeaders: { 'x-tokenlay-user': user, 'x-tokenlay-org': 'acme' } });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  }
  server = await listen(tokenlayDashboard({ store: embedded.engine.store, auth: { viewerFor: (key) => KEYS[key] ?? null }, refreshMs: 500 }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await embedded?.close();
  await provider?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard sign-in with a tokenlay key', () => {
  it('keeps the key in an HttpOnly, SameSite cookie, never in the URL or storage, and shows the account its calls', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url + '/');
    expect(await page.isVisible('form[action=signin]')).toBe(true);
    await expectAccessible(page);
    await screenshot(page, 'sign-in');
    await page.fill('#key', 'tl_acme_0123456789abcdef');
    await page.click('button[type=submit]');
    await page.waitForSelector('body[data-loaded]');
    expect(page.url()).toBe(server.url + '/');
    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'tokenlay_dashboard_key', httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage))).toBe('{}{}');
    expect(await textOf(page, '#account')).toBe('acme');
    expect(await textOf(page, '#total-calls')).toBe('3');
    expect((await tableRows(page, '#breakdown')).map((r) => [r[0], r[1]])).toEqual([
      ['ann', '2'],
      ['abe', '1'],
    ]);
    await screenshot(page, 'signed-in-acme');
    await context.close();
  });

  it('another key sees nothing of it, and a filter cannot reach past its account', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await page.fill('#key', 'tl_globex_fedcba9876543210');
    await page.click('button[type=submit]');
    await page.waitForSelector('body[data-loaded]');
    expect(await textOf(page, '#account')).toBe('globex');
    expect(await page.isVisible('#empty')).toBe(true);
    expect(await page.content()).not.toContain('ann');
    const res = await page.evaluate(() => fetch('api/report?window=30d&org=acme&user=ann').then((r) => r.json()));
    expect(res.totals.calls).toBe(0);
    expect(res.recent).toEqual([]);
    await context.close();
  });

  it('refuses an unknown key without repeating it, and the API answers 401 without a key', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await page.fill('#key', 'tl_wrong_key_value');
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/signin')), page.click('button[type=submit]')]);
    expect(response.status()).toBe(401);
    expect(await textOf(page, '.error')).toBe('That key was not recognised. Paste a tokenlay key (tokenlay keys list shows them) and try again.');
    expect(await page.content()).not.toContain('tl_wrong_key_value');
    expect(await context.cookies()).toEqual([]);
    const api = await fetch(server.url + '/api/report');
    expect(api.status).toBe(401);
    expect((await api.json()).error.code).toBe('not_signed_in');
    await context.close();
  });

  it('signs out by clearing the cookie', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await page.fill('#key', 'tl_acme_0123456789abcdef');
    await page.click('button[type=submit]');
    await page.waitForSelector('body[data-loaded]');
    await page.click('.signout button');
    await page.waitForSelector('form[action=signin]');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });
});
