// examples/budget-page: a page that shows each user what they have left, read with getTokenlayBudget().
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvider, type Provider } from '../support/provider.js';
import { startExample, type RunningExample } from './support.js';

describe('examples/budget-page', () => {
  let provider: Provider;
  let app: RunningExample;

  beforeAll(async () => {
    provider = await startProvider({ usage: { prompt: 1000, completion: 500 } });
    app = await startExample('budget-page', { providerBase: provider.base });
  }, 300_000);
  afterAll(async () => {
    await app?.stop();
    await provider?.close();
  });

  const page = async (user: string) => (await fetch(`${app.url}/?user=${user}`)).text();
  const ask = async (user: string) => {
    const response = await fetch(`${app.url}/ask?user=${user}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"message":"Hello"}' });
    return { status: response.status, body: await response.json() };
  };

  it("shows a new user the whole budget, on their own billing date, and less after each question", async () => {
    const fresh = await page('alice');
    expect(fresh).toContain('<li data-type="cost" data-remaining="0.01">$0.0100 left this month (of $0.0100); more from ');
    expect(fresh).toMatch(/data-type="cost"[^<]*more from \d{4}-\d{2}-17 00:00 UTC/);
    expect(fresh).toContain('<li data-type="requests" data-remaining="5">5 requests left in the last 24 hours (of 5)</li>');

    const first = await ask('alice');
    expect(first.status).toBe(200);
    // gpt-4o-mini: 1000 input tokens at $0.15 and 500 output at $0.60 per million: $0.00045.
    expect(first.body.cost).toBeCloseTo(0.00045, 10);
    expect(first.body).toMatchObject({ budgetRemaining: 4, budgetLimit: 'requests/last_24h' });

    const after = await page('alice');
    expect(after).toContain('data-remaining="0.00955">$0.0095 left this month');
    expect(after).toMatch(/4 requests left in the last 24 hours \(of 5\); more from /);
    // Bob's budget is his own, on his own billing date (the 5th).
    const bob = await page('bob');
    expect(bob).toContain('data-remaining="0.01"');
    expect(bob).toMatch(/more from \d{4}-\d{2}-05 00:00 UTC/);
  });

  it('answers the question typed in the page’s form, not a stand-in', async () => {
    const form = (await page('bob')).match(/<form method="post" action="([^"]+)"><input name="(\w+)"/);
    expect(form).not.toBeNull();
    const response = await fetch(`${app.url}${form![1]}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `${form![2]}=What%20is%20left%3F` });
    expect(response.status).toBe(200);
    const sent = provider.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!;
    expect(sent.body.messages).toEqual([{ role: 'user', content: 'What is left?' }]);
    // The form lands back on the page, which shows what the question spent.
    const shown = await response.text();
    expect(shown).toContain('<h1>Hello, bob</h1>');
    expect(shown).toContain('4 requests left in the last 24 hours (of 5)');
  });

  it('blocks the sixth question in 24 hours with the rule’s message, and the page says none are left', async () => {
    for (let i = 0; i < 4; i++) expect((await ask('alice')).status).toBe(200);
    const sixth = await ask('alice');
    expect(sixth.status).toBe(429);
    expect(sixth.body.error.message).toBe('You have used your free questions; they come back as the window moves.');
    expect(await page('alice')).toContain('0 requests left in the last 24 hours');
  });
});
