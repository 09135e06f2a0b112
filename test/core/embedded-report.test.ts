import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/engine.js';
import type { Engine } from '../../src/engine/types.js';
import { getTokenlayMetadata, getTokenlayUsage, runWithTokenlay, TokenlayOpenAI } from '../../src/index.js';
import { readReport, readReportHeaders, type CallReport } from '../../src/protocol/report.js';
import { startProvider, type Provider } from '../support/provider.js';

const rules = {
  rules: [
    { id: 'blocked-feature', if: { feature: 'banned' }, then: { action: 'block' } },
    { id: 'two-a-day', if: {}, then: { limits: [{ type: 'requests', max: 2, window: 'day', per: 'user' }] } },
  ],
};
const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra });

let provider: Provider;
let engine: Engine;
beforeAll(async () => {
  provider = await startProvider();
  engine = createEngine({ rules, store: 'memory' });
});
afterAll(async () => {
  await engine.close();
  await provider.close();
});

function call(user: string, feature: string, body: string, reports: CallReport[], settled?: CallReport[]) {
  return engine.handle({
    url: `${provider.base}/chat/completions`,
    method: 'POST',
    headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer sk-test', 'x-tokenlay-user': user, 'x-tokenlay-feature': feature }),
    body,
    reportTo: { onReport: (report) => reports.push(report), onSettled: (report) => settled?.push(report) },
  });
}

describe("the engine's report handed to an in-process caller as an object", () => {
  it('is the report its answer headers carry, for an answer, a rule block and a limit block', async () => {
    for (const [user, feature] of [['ana', 'chat'], ['bo', 'banned'], ['cy', 'chat'], ['cy', 'chat'], ['cy', 'chat']]) {
      const reports: CallReport[] = [];
      const response = await call(user, feature, chat(), reports);
      await response.arrayBuffer();
      expect(reports, `${user} ${feature}`).toHaveLength(1);
      const { duration: _d1, ...fromObject } = readReport(reports[0]);
      const { duration: _d2, ...fromHeaders } = readReportHeaders(response.headers)!;
      expect(fromObject, `${user} ${feature} ${response.status}`).toEqual(fromHeaders);
    }
  });

  it("hands a stream's settled report over with its usage, also when the caller cancels it", async () => {
    for (const cancel of [false, true]) {
      const reports: CallReport[] = [];
      const settled: CallReport[] = [];
      const response = await call(`stream-${cancel}`, 'chat', chat({ stream: true }), reports, settled);
      if (cancel) await response.body!.cancel();
      else await response.text();
      await expect.poll(() => settled.length, { timeout: 5000 }).toBe(1);
      expect(reports[0].inputTokens).toBe(0);
      expect(settled[0].inputTokens, `cancelled: ${cancel}`).toBeGreaterThan(0);
    }
  });
});

describe('TokenlayOpenAI in embedded mode', () => {
  it('reads the engine report as an object: the metadata and roll-up match what a remote client reads from headers', async () => {
    // A provider of its own: no connection left over from the cancelled streams above.
    const own = await startProvider();
    const openai = new TokenlayOpenAI({ providerApiKey: 'sk-test', providerApiBase: own.base, policy: rules, store: 'memory', maxRetries: 0 });
    try {
      await runWithTokenlay({ user: 'dee', feature: 'chat' }, async () => {
        const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
        const { duration: _d1, ...metadata } = getTokenlayMetadata(data)!;
        const { duration: _d2, ...fromHeaders } = readReportHeaders(response.headers)!;
        expect(metadata).toEqual(fromHeaders);
        expect(metadata.ruleId).toBe('two-a-day');
        expect(getTokenlayUsage()).toMatchObject({ calls: 1, inputTokens: metadata.inputTokens, outputTokens: metadata.outputTokens });
      });
    } finally {
      await openai.close();
      await own.close();
    }
  });
});
