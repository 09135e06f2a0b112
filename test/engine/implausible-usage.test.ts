import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { formatDecimal } from '../../src/protocol/report.js';
import { as, hello, rig, warningsHeader } from './support.js';

const DECIMAL = /^\d+(\.\d+)?$/;
const IMPLAUSIBLE = 'usage estimated: the provider reported usage no call can have';

/** Usage a provider may answer with that no call can have had, in several providers' shapes. */
const cases: Array<{ name: string; path: string; body: object; usage: Record<string, unknown> }> = [
  { name: 'completion_tokens: 1e308 (chat)', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: 1e308, total_tokens: 1e308 } },
  { name: 'negative prompt_tokens', path: '/chat/completions', body: hello, usage: { prompt_tokens: -5, completion_tokens: 5, total_tokens: 0 } },
  { name: 'fractional completion_tokens', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: 2.5, total_tokens: 12.5 } },
  { name: 'completion_tokens as a string', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: '500', total_tokens: 510 } },
  { name: 'more output than gpt-4o-mini can write (its window is 128,000)', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: 1_000_000, total_tokens: 1_000_010 } },
  { name: 'more input than any call can read', path: '/chat/completions', body: hello, usage: { prompt_tokens: 2 ** 40, completion_tokens: 5, total_tokens: 2 ** 40 + 5 } },
  { name: 'a negative nested reasoning_tokens', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: 5, completion_tokens_details: { reasoning_tokens: -3 } } },
  { name: 'total_tokens beyond 2^53', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 2 ** 60 } },
  { name: 'Anthropic-shaped fractional cache_read_input_tokens', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: 5, cache_read_input_tokens: 1.5 } },
  { name: 'DeepSeek-shaped prompt_cache_hit_tokens as a string', path: '/chat/completions', body: hello, usage: { prompt_tokens: 10, completion_tokens: 5, prompt_cache_hit_tokens: '4' } },
  { name: 'output_tokens: 1e308 (Responses API)', path: '/responses', body: { model: 'gpt-4o-mini', input: 'Say hello.' }, usage: { input_tokens: 10, output_tokens: 1e308, total_tokens: 1e308 } },
  { name: 'prompt_tokens as a string (embeddings)', path: '/embeddings', body: { model: 'text-embedding-3-small', input: 'Say hello.' }, usage: { prompt_tokens: '12', total_tokens: 12 } },
  { name: 'a boolean output count', path: '/responses', body: { model: 'gpt-4o-mini', input: 'Say hello.' }, usage: { input_tokens: 10, output_tokens: true } },
];

async function call(fetch: typeof globalThis.fetch, base: string, path: string, body: object): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test', ...as({ user: 'ivy' }).headers }, body: JSON.stringify(body) });
}

describe('implausible usage is bounded: estimated and flagged, never stored as given', () => {
  for (const c of cases) {
    it(`estimates a call whose provider reports ${c.name}`, async () => {
      // The price table has no embeddings prices: one is given.
      const { fetch, provider } = await rig({ store: 'memory', prices: { 'text-embedding-3-small': { input: 0.02, output: 0 } } }, { rawUsage: c.usage });
      const response = await call(fetch, provider.base, c.path, c.body);
      expect(response.status).toBe(200);
      const cost = response.headers.get('x-tokenlay-cost')!;
      expect(cost).toMatch(DECIMAL);
      expect(Number(cost)).toBeLessThan(0.001);
      expect(warningsHeader(response)).toEqual([expect.stringContaining(IMPLAUSIBLE)]);
      await fetch.engine.flush();
      const [row] = await fetch.engine.store.ledger();
      expect(row).toMatchObject({ estimated: true, estimateReason: 'implausible usage', status: 200 });
      for (const n of [row!.inputTokens, row!.outputTokens, row!.cachedTokens]) expect(Number.isSafeInteger(n) && n >= 0 && n < 1000).toBe(true);
      expect(row!.inputTokens).toBeGreaterThan(0);
      const model = (c.body as { model: string }).model;
      const price = model === 'text-embedding-3-small' ? (row!.inputTokens * 0.02) / 1e6 : calcPrice({ input_tokens: row!.inputTokens, output_tokens: row!.outputTokens }, model)!.total_price;
      expect(row!.cost).toBeCloseTo(price, 12);
    });
  }

  it('estimates a stream whose usage chunk reports completion_tokens: 1e308, and its trailer has a decimal cost', async () => {
    const { fetch, provider } = await rig({ store: 'memory' }, { rawUsage: { prompt_tokens: 10, completion_tokens: 1e308, total_tokens: 1e308 } });
    const text = await (await call(fetch, provider.base, '/chat/completions', { ...hello, stream: true })).text();
    const line = text.split('\n').find((l) => l.startsWith(': x-tokenlay '))!;
    expect(line.slice(': x-tokenlay '.length)).toMatch(/"cost":\d+(\.\d+)?[,}]/);
    const trailer = JSON.parse(line.slice(': x-tokenlay '.length));
    expect(trailer.warnings).toEqual([expect.stringContaining(IMPLAUSIBLE)]);
    expect(trailer.output_tokens).toBeLessThan(100);
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger())[0]).toMatchObject({ estimated: true, estimateReason: 'implausible usage' });
  });

  it("flags a call whose provider reported no usage 'no usage'", async () => {
    const body = { id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hello there' }, finish_reason: 'stop' }] };
    const { fetch, provider } = await rig({ store: 'memory' }, { behavior: () => ({ kind: 'status', status: 200, body }) });
    await (await call(fetch, provider.base, '/chat/completions', hello)).text();
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger())[0]).toMatchObject({ estimated: true, estimateReason: 'no usage' });
  });

  it('keeps usage a model can have as reported: 100,000 output tokens of gpt-4o-mini, 3 choices of o4-mini', async () => {
    const { fetch, provider } = await rig({ store: 'memory' }, { rawUsage: (r) => (r.body.n === 3 ? { prompt_tokens: 20, completion_tokens: 450_000 } : { prompt_tokens: 20, completion_tokens: 100_000 }) });
    await call(fetch, provider.base, '/chat/completions', hello);
    await call(fetch, provider.base, '/chat/completions', { model: 'o4-mini', n: 3, messages: hello.messages });
    await fetch.engine.flush();
    const rows = await fetch.engine.store.ledger();
    expect(rows.map((r) => [r.outputTokens, r.estimated])).toEqual([
      [100_000, false],
      [450_000, false],
    ]);
    expect(rows[0]!.cost).toBeCloseTo(calcPrice({ input_tokens: 20, output_tokens: 100_000 }, 'gpt-4o-mini')!.total_price, 12);
  });
});

describe('the cost header is a decimal without exponent', () => {
  it('writes huge, tiny and ordinary costs in plain decimals', () => {
    for (const [value, text] of [
      [1e21, '1000000000000000000000'],
      [1e-7, '0.0000001'],
      [0.0000045, '0.0000045'],
      [123.456, '123.456'],
      [Infinity, '0'],
      [NaN, '0'],
      [-1, '0'],
    ] as const) {
      expect(formatDecimal(value)).toBe(text);
    }
    expect(formatDecimal(7.5e301)).toMatch(/^7\d{301}$/);
  });

  it("never passes on an upstream's x-tokenlay-cost, as a stream answer would have", async () => {
    const { fetch, provider } = await rig(
      { store: 'memory' },
      { behavior: () => ({ kind: 'status', status: 200, headers: { 'content-type': 'text/event-stream', 'x-tokenlay-cost': '7.5e+301', 'x-tokenlay-output-tokens': '1e308' }, body: 'data: [DONE]' }) },
    );
    const response = await call(fetch, provider.base, '/chat/completions', { ...hello, stream: true });
    await response.text();
    expect(response.headers.get('x-tokenlay-cost')).toBeNull();
    expect(response.headers.get('x-tokenlay-output-tokens')).toBeNull();
  });

  it('writes a tiny cost in the stream trailer as a decimal too (JSON alone would write 1e-7)', async () => {
    const { fetch, provider } = await rig({ store: 'memory', prices: { 'gpt-4o-mini': { input: 0.01, output: 0 } } }, { usage: { prompt: 10, completion: 0 } });
    const text = await (await call(fetch, provider.base, '/chat/completions', { ...hello, stream: true })).text();
    const line = text.split('\n').find((l) => l.startsWith(': x-tokenlay '))!;
    expect(line).toContain('"cost":0.0000001,');
  });
});
