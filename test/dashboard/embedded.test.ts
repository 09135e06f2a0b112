import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenlayOpenAI } from 'tokenlay';
import { tokenlay } from 'tokenlay/express';
import { tokenlayDashboard } from 'tokenlay/dashboard';
import { createStore } from '../../src/store/index.js';
import type { TokenlayStore } from '../../src/store/types.js';
import { listen, type Listening } from '../support/http.js';
import { startProvider, type Provider } from '../support/provider.js';
import { expectAccessible, launchChromium, screenshot, tableRows, textOf } from './browser.js';

// The dashboard mounted in a user's own Express app, in embedded mode: calls go through the
// real engine (SQLite store) to the provider stand-in, and the page reads that same store.
const RULES = {
  version: '0.1',
  // Each call: 10 input + 5 output tokens at these prices = $0.02.
  prices: { 'gpt-4o-mini': { input: 1000, output: 2000 } },
  plans: { pro: { price: 0.05, period: 'month' }, free: { price: 0 } },
  rules: [
    { id: 'free-cap', if: { plan: 'free' }, then: { limits: [{ type: 'requests', max: 3, window: 'day', per: 'user' }] } },
    // alice's third call takes her past the cap: she is downgraded, never blocked.
    {
      id: 'pro-cap',
      if: { plan: 'pro' },
      then: { limits: [{ type: 'cost', max: 0.05, window: 'month', per: 'user' }], on_limit_exceeded: { action: 'downgrade', downgrade_to: 'gpt-4o-mini' } },
    },
  ],
};
const PROMPT = 'the secret prompt text';

let dir: string;
let provider: Provider;
let store: TokenlayStore;
let openai: TokenlayOpenAI;
let app: Listening;
let browser: Browser;

async function call(user: string, plan: string, feature: string, more: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${app.url}/chat`, { method: 'POST', headers: { 'x-user': user, 'x-plan': plan, 'x-feature': feature, ...more } });
  return res.status;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-dashboard-'));
  provider = await startProvider();
  store = createStore(`sqlite:${join(dir, 'usage.db')}`);
  openai = new TokenlayOpenAI({ providerApiKey: 'sk-dashboard-test', providerApiBase: provider.base, policy: RULES, store, maxRetries: 0 });
  const server = express();
  server.use(
    tokenlay({ identify: (req: any) => ({ user: req.get('x-user'), plan: req.get('x-plan'), feature: req.get('x-feature'), org: req.get('x-org'), project: req.get('x-project') }) }),
  );
  server.post('/chat', async (_req, res) => {
    try {
      await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] });
      res.json({ ok: true });
    } catch (err: any) {
      res.status(err.status ?? 500).json({ error: err.message });
    }
  });
  const requireAdmin: express.RequestHandler = (req, res, next) => ((req.get('cookie') ?? '').includes('admin=yes') ? next() : res.status(403).send('admins only'));
  server.use('/admin/tokenlay', requireAdmin, tokenlayDashboard({ store, rules: RULES, refreshMs: 400 }));
  app = await listen(server);
  browser = await launchChromium();

  for (let i = 0; i < 3; i++) expect(await call('alice', 'pro', 'chat')).toBe(200);
  // Long attribution values, as real apps have: Recent calls must still fit a laptop's screen.
  expect(await call('dave', 'pro', 'summary', { 'x-org': 'acme-corporation-international-holdings', 'x-project': 'customer-support-assistant-eu-west-1' })).toBe(200);
  for (let i = 0; i < 3; i++) expect(await call('bob', 'free', 'chat')).toBe(200);
  expect(await call('bob', 'free', 'chat')).toBe(429);
  // An older call: in the 7-day window, not in the last 24 hours.
  store.record({
    time: Date.now() - 3 * 86_400_000,
    fields: { user: 'erin', plan: 'enterprise', feature: 'search' },
    modelRequested: 'gpt-4o',
    modelUsed: 'gpt-4o',
    endpoint: '/v1/chat/completions',
    inputTokens: 1_000_000,
    outputTokens: 200_000,
    cachedTokens: 0,
    cost: 1.5,
    ruleId: null,
    action: 'allow',
    status: 200,
    latencyMs: 40,
    estimated: false,
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await openai?.close();
  await store?.close();
  await provider?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openDashboard(viewport = { width: 1280, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  await context.addCookies([{ name: 'admin', value: 'yes', url: app.url }]);
  const page = await context.newPage();
  await page.goto(`${app.url}/admin/tokenlay`);
  await page.waitForSelector('body[data-loaded]');
  return page;
}

describe('dashboard mounted in an embedded-mode Express app', () => {
  it('stays behind the app’s own admin check', async () => {
    expect((await fetch(`${app.url}/admin/tokenlay/`)).status).toBe(403);
    expect((await fetch(`${app.url}/admin/tokenlay/api/report`)).status).toBe(403);
  });

  it('shows the calls the app made: totals, chart, breakdown by user with totals, recent calls without prompts', async () => {
    const page = await openDashboard();
    expect(page.url()).toBe(`${app.url}/admin/tokenlay/`);
    // Calls are the calls sent to the provider; the refused one is counted apart.
    expect(await textOf(page, '#total-calls')).toBe('7');
    expect(await textOf(page, '#total-blocked')).toBe('1');
    expect(await textOf(page, '#total-cost')).toBe('$0.14');
    expect(await page.getAttribute('#total-cost', 'title')).toBe('$0.14 USD');
    expect(await page.locator('#chart canvas').count()).toBe(1);
    const byUser = await tableRows(page, '#breakdown');
    expect(byUser.map((r) => [r[0], r[1], r[2], r[4]])).toEqual([
      ['alice', '3', '0', '$0.06'],
      ['bob', '3', '1', '$0.06'],
      ['dave', '1', '0', '$0.02'],
    ]);
    expect(await page.$$eval('#breakdown tfoot th, #breakdown tfoot td', (c) => c.map((x) => x.textContent))).toEqual(['Total', '7', '1', '105', '$0.14']);
    // Another grouping, and sorting by a column.
    await page.click('.tab[data-group=feature]');
    expect((await tableRows(page, '#breakdown')).map((r) => r[0])).toEqual(['chat', 'summary']);
    await page.click('#breakdown thead button:has-text("Calls")');
    expect((await tableRows(page, '#breakdown')).map((r) => r[1])).toEqual(['6', '1']);
    await page.click('#breakdown thead button:has-text("Calls")');
    expect((await tableRows(page, '#breakdown')).map((r) => r[1])).toEqual(['1', '6']);
    const recent = await tableRows(page, '#recent');
    expect(recent).toHaveLength(8);
    expect(recent[0]![1]).toBe('user=bob plan=free feature=chat');
    expect(recent[0]![6]).toBe('block (free-cap) · 429');
    expect(recent[1]![2]).toBe('gpt-4o-mini');
    expect(await page.content()).not.toContain(PROMPT);
    await screenshot(page, 'embedded-desktop');
    await page.context().close();
  });

  it('lists each full counter with what its rule does (blocked, downgraded) and when the window resets, and flags the unprofitable users', async () => {
    const page = await openDashboard();
    const limits = await tableRows(page, '#limits');
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const now = new Date();
    const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
    expect(limits).toEqual([
      ['user=bob', 'free-cap', 'requests per day', '3 of 3 requests (100 %)', 'Blocked', `${tomorrow} 00:00:00 UTC`],
      // alice is past her cost cap, and her rule downgrades: nothing of hers was blocked.
      ['user=alice', 'pro-cap', 'cost per month', '$0.06 of $0.05 (120 %)', 'Downgraded to gpt-4o-mini', `${nextMonth} 00:00:00 UTC`],
    ]);
    const unprofitable = await tableRows(page, '#unprofitable');
    expect(unprofitable.map((r) => [r[0], r[1], r[2], r[3], r[4]])).toEqual([
      ['bob', 'free', '$0', '$0.06', '-$0.06'],
      ['alice', 'pro', '$0.05', '$0.06', '-$0.01'],
    ]);
    const plans = await tableRows(page, '#margins-plans');
    expect(plans).toEqual([
      ['pro', '2', '$0.10', '$0.08', '$0.02'],
      ['free', '1', '$0', '$0.06', '-$0.06'],
    ]);
    expect(await page.$$eval('#margins-plans tfoot td', (c) => c.map((x) => x.textContent))).toEqual(['3', '$0.10', '$0.14', '-$0.04']);
    // dave's plan covers his cost: listed by user, not as unprofitable.
    expect((await tableRows(page, '#margins-users')).map((r) => r[0])).toEqual(['bob', 'alice', 'dave']);
    await page.context().close();
  });

  it('a window or a filter changes the numbers', async () => {
    const page = await openDashboard();
    await page.check('input[name=window][value="7d"]');
    await page.waitForFunction(() => document.getElementById('total-calls')!.textContent === '8');
    expect(await textOf(page, '#total-cost')).toBe('$1.64');
    expect(await textOf(page, '#total-tokens')).toBe('1.2 M');
    expect(await page.getAttribute('#total-tokens', 'title')).toBe('1,200,105 tokens');
    await page.selectOption('#filter-field', 'user');
    await page.fill('#filter-value', 'alice');
    await page.click('#filter button[type=submit]');
    await page.waitForFunction(() => document.getElementById('total-calls')!.textContent === '3');
    expect(await textOf(page, '#active-filters')).toBe('Showing only user = alice');
    expect((await tableRows(page, '#breakdown')).map((r) => r[0])).toEqual(['alice']);
    // The Limits panel follows the filter: bob's blocked counter is not alice's.
    expect((await tableRows(page, '#limits')).map((r) => [r[0], r[4]])).toEqual([['user=alice', 'Downgraded to gpt-4o-mini']]);
    expect(await page.isVisible('#no-match')).toBe(false);
    // A filter that matches nothing says so, in the page and in each table.
    await page.fill('#filter-value', 'zed');
    await page.click('#filter button[type=submit]');
    await page.waitForFunction(() => document.getElementById('total-calls')!.textContent === '0');
    expect(await textOf(page, '#no-match')).toBe('No calls match user = zed in the last 7 days. Clear the filter to see every call.');
    expect(await tableRows(page, '#breakdown')).toEqual([['No calls match user = zed in the last 7 days. Clear the filter to see every call.']]);
    expect(await tableRows(page, '#recent')).toEqual([['No calls match user = zed in the last 7 days. Clear the filter to see every call.']]);
    expect(await tableRows(page, '#limits')).toEqual([['No one matching user = zed is above 80 % of a limit.']]);
    await page.click('#filter-clear');
    await page.waitForFunction(() => document.getElementById('total-calls')!.textContent === '8');
    expect(await page.isVisible('#no-match')).toBe(false);
    await page.context().close();
  });

  it('the chart legend shows the window’s totals off the chart, and a bucket’s values under the cursor', async () => {
    const page = await openDashboard();
    const legend = () => page.$$eval('.u-legend .u-series', (rows) => rows.map((r) => [r.querySelector('.u-label')?.textContent, r.querySelector('.u-value')?.textContent]));
    expect(await legend()).toEqual([
      ['Time', 'whole window'],
      ['Spend (USD)', '$0.14'],
      ['Tokens', '105'],
    ]);
    const box = (await page.locator('#chart .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
    const hovered = await legend();
    expect(hovered[0]![1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(hovered.every(([, value]) => value !== '' && value !== '--')).toBe(true);
    await page.context().close();
  });

  it('right-aligns number headers over their numbers, and at 1,280 px shows Recent calls whole (cost and action in view)', async () => {
    const page = await openDashboard({ width: 1280, height: 900 });
    for (const table of ['#breakdown', '#recent', '#margins-plans', '#margins-users']) {
      const mismatched = await page.$eval(table, (t) => {
        const heads = Array.from(t.querySelectorAll('thead th'));
        const cells = Array.from(t.querySelectorAll('tbody tr:first-child > *'));
        return heads
          .map((th, i) => [th.textContent, getComputedStyle(th).textAlign, cells[i] ? getComputedStyle(cells[i]!).textAlign : 'none'])
          .filter(([, head, cell]) => (head === 'right') !== (cell === 'right'));
      });
      expect(mismatched, table).toEqual([]);
    }
    const recent = await page.$eval('#recent', (t) => {
      const box = t.closest('.scroll')!;
      const edge = box.getBoundingClientRect().right;
      const cells = Array.from(t.querySelectorAll('tr > *'));
      return { overflow: box.scrollWidth - box.clientWidth, outside: cells.filter((c) => c.getBoundingClientRect().right > edge + 0.5).map((c) => c.textContent) };
    });
    expect(recent).toEqual({ overflow: 0, outside: [] });
    await screenshot(page, 'embedded-1280');
    await page.context().close();
  });

  it('updates while open, without a reload', async () => {
    const page = await openDashboard();
    await page.evaluate(() => ((window as any).sameDocument = true));
    const before = Number(await textOf(page, '#total-calls'));
    expect(await call('dave', 'pro', 'summary')).toBe(200);
    await page.waitForFunction((n) => document.getElementById('total-calls')!.textContent === String(n), before + 1, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    await page.context().close();
  });

  it('is usable on a phone and has no serious or critical accessibility violations', async () => {
    const page = await openDashboard({ width: 390, height: 844 });
    // Nothing wider than the screen but the scrolling tables.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'embedded-phone');
    await expectAccessible(page);
    await page.context().close();
  });

  it('serves its own assets (no CDN) with a strict content security policy', async () => {
    const res = await fetch(`${app.url}/admin/tokenlay/`, { headers: { cookie: 'admin=yes' } });
    const html = await res.text();
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const external = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => /^(https?:)?\/\//.test(u!));
    expect(external).toEqual([]);
    const uplot = await fetch(`${app.url}/admin/tokenlay/assets/uplot.js`, { headers: { cookie: 'admin=yes' } });
    expect(uplot.headers.get('content-type')).toContain('javascript');
    expect(await uplot.text()).toContain('uPlot');
  });

  it('answers a bad window with a clear error', async () => {
    const res = await fetch(`${app.url}/admin/tokenlay/api/report?window=year`, { headers: { cookie: 'admin=yes' } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toBe('window "year" is not one of 24h|7d|30d|mtd.');
  });
});

describe('dashboard over an empty ledger', () => {
  it('shows the four lines that send the first call', async () => {
    const empty = createStore('sqlite::memory:');
    const server = await listen(tokenlayDashboard({ store: empty }));
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await page.waitForSelector('body[data-loaded]');
    expect(await page.isVisible('#empty')).toBe(true);
    expect(await page.isVisible('#content')).toBe(false);
    const code = await textOf(page, '#empty code');
    expect(code.split('\n')).toHaveLength(4);
    expect(code).toContain('new TokenlayOpenAI(');
    expect(code).toContain('openai.chat.completions.create(');
    await screenshot(page, 'empty-state');
    await expectAccessible(page);
    await context.close();
    await server.close();
    await empty.close();
  });
});
