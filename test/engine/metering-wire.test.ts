import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { as, hello, rig, warningsHeader } from './support.js';

const messages = [{ role: 'user' as const, content: 'Say hello.' }];

/** The `: x-tokenlay {json}` trailer of a raw SSE body. */
function trailerOf(text: string): Record<string, any> {
  const line = text.split('\n').find((l) => l.startsWith(': x-tokenlay '));
  if (!line) throw new Error(`no trailer in ${text}`);
  return JSON.parse(line.slice(': x-tokenlay '.length));
}

describe('metering on the wire', () => {
  it('sends no "metered at $0" warning when the price is found through the model the provider answered with', async () => {
    const { openai } = await rig(
      { store: 'memory' },
      {
        behavior: (r) => ({
          kind: 'status',
          status: 200,
          body: {
            id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: 'gpt-4o-mini-2024-07-18',
            choices: [{ index: 0, message: { role: 'assistant', content: `deployment ${r.body.model}`, refusal: null }, finish_reason: 'stop', logprobs: null }],
            usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
          },
        }),
      },
    );
    // An Azure-style deployment name, unknown to the price table; the provider names the model.
    const { response } = await openai.chat.completions.create({ model: 'prod-chat-deployment', messages }).withResponse();
    expect(Number(response.headers.get('x-tokenlay-cost'))).toBeGreaterThan(0);
    expect(response.headers.get('x-tokenlay-warnings')).toBeNull();
  });

  it('still warns when neither the model sent nor the model answered has a price', async () => {
    const { openai } = await rig({ store: 'memory' });
    const { response } = await openai.chat.completions.create({ model: 'acme-llm-8', messages }).withResponse();
    expect(response.headers.get('x-tokenlay-cost')).toBe('0');
    expect(warningsHeader(response)).toEqual([
      'No price is known for model "acme-llm-8"; it is metered at $0. Add a price with prices: { "acme-llm-8": { input: 0.5, output: 1.5 } } (USD per 1M tokens).',
    ]);
  });

  it('prices a routed multi-segment model name on the wire', async () => {
    const { openai } = await rig({ store: 'memory' }, { usage: { prompt: 1000, completion: 1000 } });
    const { response } = await openai.chat.completions.create({ model: 'openai/us-west-2/o3-mini-2025-01-31', messages }).withResponse();
    expect(Number(response.headers.get('x-tokenlay-cost'))).toBeGreaterThan(0);
    expect(response.headers.get('x-tokenlay-warnings')).toBeNull();
  });

  it('estimates, and flags estimated, a stream that delivered text and then reports zero tokens', async () => {
    const { fetch, provider } = await rig({ store: 'memory' }, { usage: { prompt: 0, completion: 0 } });
    const response = await fetch(`${provider.base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test', ...as({ user: 'zed' }).headers },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true }),
    });
    const text = await response.text();
    expect(text).toContain('hello');
    const trailer = trailerOf(text);
    expect(trailer.output_tokens).toBeGreaterThan(0);
    expect(trailer.input_tokens).toBeGreaterThan(0);
    expect(trailer.cost).toBeGreaterThan(0);
    expect(trailer.warnings).toContain('usage estimated: the provider reported none');
    await fetch.engine.flush();
    const [row] = await fetch.engine.store.ledger();
    expect(row).toMatchObject({ estimated: true });
    expect(row!.cost).toBeGreaterThan(0);
  });

  it('estimates a JSON answer with text that reports zero tokens', async () => {
    const { openai, fetch } = await rig({ store: 'memory' }, { usage: { prompt: 0, completion: 0 } });
    const { response } = await openai.chat.completions.create(hello).withResponse();
    expect(Number(response.headers.get('x-tokenlay-output-tokens'))).toBeGreaterThan(0);
    expect(warningsHeader(response)).toContain('usage estimated: the provider reported none');
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger())[0]).toMatchObject({ estimated: true });
  });

  it('answers a call with max_tokens: 1e308 under a cost limit, reserving a bounded amount', async () => {
    const rules = { rules: [{ id: 'spend', if: {}, then: { limits: [{ type: 'cost', max: 100, window: 'day', per: 'user' }, { type: 'tokens', max: 10_000_000, window: 'day', per: 'user' }] } }] };
    const { openai, fetch } = await rig({ rules, store: 'memory' });
    const body = { ...hello, max_tokens: 1e308, n: 2 } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const { data, response } = await openai.chat.completions.create(body, as({ user: 'big' })).withResponse();
    expect(data.choices[0]!.message.content).toBe('hello anonymous');
    expect(response.headers.get('x-tokenlay-tokens-used')).toBe('15');
    await fetch.engine.flush();
    expect((await fetch.engine.store.ledger())[0]).toMatchObject({ status: 200, inputTokens: 10, outputTokens: 5 });
  });
});
