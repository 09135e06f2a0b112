import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/embedded.js';
import { TokenlayRulesError } from '../../src/policy/errors.js';
import { loadRules } from '../../src/policy/load.js';
import { startProvider, type Provider } from '../support/provider.js';
import { downUrl, startReceiver } from './receiver.js';

let provider: Provider;
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  await provider?.close();
});

function rules(notify: object[], limit: object = { type: 'requests', max: 60, window: 'day', per: 'user', warn_at: 0.5 }) {
  return { version: '0.1', rules: [{ id: 'daily-cap', if: {}, then: { limits: [limit], on_limit_exceeded: { action: 'block', notify } } }] };
}

function client(fetch: typeof globalThis.fetch, user: string) {
  return new OpenAI({ apiKey: 'sk-alerts', baseURL: provider.base, fetch, maxRetries: 0, defaultHeaders: { 'x-tokenlay-user': user } });
}

async function burst(openai: OpenAI, n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, () =>
      openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).then(
        () => 200,
        (err: { status?: number }) => err.status ?? 0,
      ),
    ),
  );
}

describe('notify alerts', () => {
  it('posts exactly one threshold alert and one block alert per counter per window under 100 concurrent calls', async () => {
    const receiver = await startReceiver();
    let now = Date.UTC(2026, 10, 30, 12);
    const embedded = createEmbeddedFetch({ rules: rules([{ type: 'webhook', url: `${receiver.url}/hook`, payload: { env: 'test' } }]), store: 'memory', now: () => now });
    try {
      const statuses = await burst(client(embedded, 'alice'), 100);
      expect(statuses.filter((s) => s === 200)).toHaveLength(60);
      expect(statuses.filter((s) => s === 429)).toHaveLength(40);
      // Every settlement done, then every alert it queued delivered: nothing is left to arrive.
      await embedded.engine.flush();
      await embedded.engine.alerts!.idle();
      expect(receiver.received.map((r) => r.body.event).sort()).toEqual(['tokenlay.limit.blocked', 'tokenlay.limit.threshold_crossed']);
      const crossed = receiver.received.find((r) => r.body.event === 'tokenlay.limit.threshold_crossed')!;
      expect(crossed.path).toBe('/hook');
      expect(crossed.body).toMatchObject({
        env: 'test',
        rule_id: 'daily-cap',
        scope: 'user=alice',
        limit: { type: 'requests', max: 60, window: 'day', warn_at: 0.5 },
        window_start: '2026-11-30T00:00:00.000Z',
        resets_at: '2026-12-01T00:00:00.000Z',
      });
      expect(crossed.body.used).toBeGreaterThanOrEqual(30);
      const blocked = receiver.received.find((r) => r.body.event === 'tokenlay.limit.blocked')!;
      expect(blocked.body.used).toBe(60);
      expect(blocked.body.text).toBe('tokenlay: user=alice is blocked by rule "daily-cap": 60 requests of 60 requests per day (100%); the window resets at 2026-12-01T00:00:00.000Z');
      expect(embedded.engine.alerts!.stats).toEqual({ sent: 2, failed: 0 });

      // Another user's counter alerts on its own; the next window alerts again.
      await burst(client(embedded, 'bob'), 35);
      await embedded.engine.alerts!.idle();
      expect(receiver.received).toHaveLength(3);
      expect(receiver.received[2]!.body.scope).toBe('user=bob');
      now += 86_400_000;
      await burst(client(embedded, 'alice'), 31);
      await embedded.engine.alerts!.idle();
      expect(receiver.received).toHaveLength(4);
      expect(receiver.received[3]!.body).toMatchObject({ event: 'tokenlay.limit.threshold_crossed', scope: 'user=alice', window_start: '2026-12-01T00:00:00.000Z' });
    } finally {
      await embedded.close();
      await receiver.close();
    }
  });

  it('posts Slack’s shape to a slack notification', async () => {
    const receiver = await startReceiver();
    const embedded = createEmbeddedFetch({
      rules: rules([{ type: 'slack', url: `${receiver.url}/services/T000/B000/XXXX`, channel: '#llm-spend' }], { type: 'requests', max: 2, window: 'day', per: 'user' }),
      store: 'memory',
    });
    try {
      expect(await burst(client(embedded, 'carol'), 3)).toContain(429);
      await embedded.engine.alerts!.idle();
      expect(receiver.received).toHaveLength(1);
      expect(Object.keys(receiver.received[0]!.body).sort()).toEqual(['channel', 'text']);
      expect(receiver.received[0]!.body.text).toMatch(/^tokenlay: user=carol is blocked by rule "daily-cap": 2 requests of 2 requests per day/);
    } finally {
      await embedded.close();
      await receiver.close();
    }
  });

  it('never slows a call when the receiver stalls or is down; failures are counted and logged without the URL’s secret path', async () => {
    const stalled = await startReceiver({ stall: true });
    const down = await downUrl();
    const logged: string[] = [];
    const embedded = createEmbeddedFetch({
      rules: rules(
        [
          { type: 'webhook', url: `${stalled.url}/secret-path-1` },
          { type: 'webhook', url: `${down}/secret-path-2` },
        ],
        { type: 'requests', max: 100, window: 'day', per: 'user', warn_at: 0.05 },
      ),
      store: 'memory',
      alerts: { timeoutMs: 3000, attempts: 2, backoffMs: 100, log: (l) => logged.push(l) },
    });
    const openai = client(embedded, 'dan');
    try {
      // Warm up (first call loads the tokenizer and opens sockets), below the threshold.
      await burst(openai, 1);
      const statuses = await burst(openai, 20);
      expect(statuses.every((s) => s === 200)).toBe(true);
      // Every call has returned while the stalled receiver still holds the alert unanswered: no
      // call waited for it. (The receiver that is down may already have been given up on: its two
      // tries fail at once, and on a loaded machine the rest of the burst can outlast them.)
      await expect.poll(() => stalled.held.length).toBeGreaterThanOrEqual(1);
      expect(logged.filter((line) => line.includes(stalled.url))).toEqual([]);
      expect(embedded.engine.alerts!.stats.sent).toBe(0);
      expect(embedded.engine.alerts!.stats.failed).toBeLessThanOrEqual(1);
      await within(20_000, 'the alert deliveries to finish', embedded.engine.alerts!.idle());
      expect(embedded.engine.alerts!.stats).toEqual({ sent: 0, failed: 2 });
      expect(logged).toHaveLength(2);
      expect(logged.join('\n')).toContain(`alert to ${stalled.url} failed after 2 tries (no answer in 3000 ms)`);
      expect(logged.join('\n')).toContain(`alert to ${down} failed after 2 tries (unreachable`);
      expect(logged.join('\n')).not.toContain('secret-path');
    } finally {
      await within(10_000, 'the engine to close', embedded.close());
      await stalled.close();
    }
  });
});

/** Fails with the step's name when it has not finished in time, rather than at the test's own timeout. */
async function within<T>(ms: number, what: string, step: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms)));
  try {
    return await Promise.race([step, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('notify URLs are checked when the rules load', () => {
  const load = (url: string | undefined, type = 'webhook') =>
    loadRules({ version: '0.1', rules: [{ if: {}, then: { on_limit_exceeded: { action: 'block', notify: [{ type, ...(url === undefined ? {} : { url }) }] } } }] });

  it('accepts https, and http to localhost', () => {
    expect(() => load('https://hooks.slack.com/services/T/B/X', 'slack')).not.toThrow();
    expect(() => load('http://localhost:8080/alerts')).not.toThrow();
    expect(() => load('http://127.0.0.1:9000/alerts')).not.toThrow();
  });

  it('refuses plain http elsewhere, other schemes, non-URLs and a webhook without a URL, naming the path and the fix', () => {
    const problem = (url: string | undefined, type?: string) => {
      try {
        load(url, type);
      } catch (err) {
        expect(err).toBeInstanceOf(TokenlayRulesError);
        return (err as Error).message;
      }
      throw new Error('expected the rules to be refused');
    };
    expect(problem('http://alerts.example.com/hook/s3cret')).toContain(
      'rules[0].then.on_limit_exceeded.notify[0].url: plain http is only allowed to localhost; use https for http://alerts.example.com',
    );
    expect(problem('http://alerts.example.com/hook/s3cret')).not.toContain('s3cret');
    expect(problem('ftp://example.com/x')).toContain('expected an https: URL (or http: to localhost), got a ftp: URL');
    expect(problem('not a url')).toContain('expected an absolute URL such as https://');
    expect(problem(undefined)).toContain('notify[0].url: required for a webhook: the https URL to post alerts to');
  });
});
