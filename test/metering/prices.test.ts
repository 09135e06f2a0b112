import { calcPrice, findProvider } from '@pydantic/genai-prices';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { boundRequestTokens } from '../../src/metering/estimate.js';
import fc from 'fast-check';
import { callShape, createPricer, DEFAULT_MAX_OUTPUT_TOKENS, fittingOutput, MAX_CHOICES, MAX_OUTPUT_TOKENS, pricedShape, reservationEstimate } from '../../src/metering/prices.js';

/** gpt-4o-mini's per-million-token prices as the installed genai-prices data states them. */
function gpt4oMiniData() {
  const model = findProvider({ providerId: 'openai' })?.models.find((m) => m.id === 'gpt-4o-mini');
  const prices = model?.prices as { input_mtok: number; output_mtok: number; cache_read_mtok: number };
  if (!prices || Array.isArray(prices)) throw new Error('gpt-4o-mini is missing from the genai-prices data');
  return prices;
}

describe('createPricer', () => {
  const pricer = createPricer();

  it('prices gpt-4o-mini exactly as the genai-prices data says, cached input at the cached rate', () => {
    const { input_mtok, output_mtok, cache_read_mtok } = gpt4oMiniData();
    const expected = ((1_000_000 - 200_000) * input_mtok + 200_000 * cache_read_mtok + 50_000 * output_mtok) / 1e6;
    const result = pricer.price('gpt-4o-mini', { inputTokens: 1_000_000, cachedTokens: 200_000, outputTokens: 50_000 });
    expect(result.cost).toBeCloseTo(expected, 12);
    expect(result).toMatchObject({ known: true, priced: true, source: 'genai-prices' });
    expect(result.warning).toBeUndefined();
    expect(cache_read_mtok).toBeLessThan(input_mtok); // else the cached-rate half of this test proves nothing
  });

  it('prices the dated snapshot a response names like its alias', () => {
    const usage = { inputTokens: 1000, cachedTokens: 0, outputTokens: 1000 };
    expect(pricer.price('gpt-4o-mini-2024-07-18', usage).cost).toBe(pricer.price('gpt-4o-mini', usage).cost);
  });

  it('uses the provider hint, as an id or as a base URL', () => {
    const usage = { inputTokens: 1_000_000, cachedTokens: 0, outputTokens: 0 };
    const groq = findProvider({ providerId: 'groq' })?.models.find((m) => m.id === 'llama-3.3-70b-versatile');
    const groqInput = (groq?.prices as { input_mtok: number }).input_mtok;
    expect(pricer.price('llama-3.3-70b-versatile', usage, 'groq').cost).toBeCloseTo(groqInput, 12);
    expect(pricer.price('llama-3.3-70b-versatile', usage, 'https://api.groq.com/openai/v1').cost).toBeCloseTo(groqInput, 12);
  });

  it('lets an override win over the database, with its own cached rate', () => {
    const custom = createPricer({ overrides: { 'GPT-4o-mini': { input: 1, output: 2, cachedInput: 0.5 } } });
    const result = custom.price('gpt-4o-mini-2024-07-18', { inputTokens: 3_000_000, cachedTokens: 1_000_000, outputTokens: 1_000_000 });
    expect(result).toEqual({ cost: 2 * 1 + 1 * 0.5 + 1 * 2, known: true, priced: true, source: 'override' });
  });

  it('prices cached input at the input rate when an override gives no cached rate', () => {
    const custom = createPricer({ overrides: { 'my-llama': { input: 0.2, output: 0.6 } } });
    expect(custom.price('my-llama', { inputTokens: 1_000_000, cachedTokens: 500_000, outputTokens: 0 }).cost).toBeCloseTo(0.2, 12);
  });

  it('meters an unknown model at $0 with a warning that names it and shows the override to add', () => {
    const result = pricer.price('acme-llm-9000', { inputTokens: 10, cachedTokens: 0, outputTokens: 10 });
    expect(result).toMatchObject({ cost: 0, known: true, priced: false, source: 'none' });
    expect(result.warning).toBe(
      'No price is known for model "acme-llm-9000"; it is metered at $0. Add a price with prices: { "acme-llm-9000": { input: 0.5, output: 1.5 } } (USD per 1M tokens).',
    );
  });

  it("reports an unknown model as not known under unknownModel: 'refuse'", () => {
    const strict = createPricer({ unknownModel: 'refuse' });
    const result = strict.price('acme-llm-9000', { inputTokens: 10, cachedTokens: 0, outputTokens: 10 });
    expect(result).toMatchObject({ cost: 0, known: false, priced: false });
    expect(result.warning).toMatch(/"acme-llm-9000" and unknown models are refused .*prices: \{ "acme-llm-9000"/);
    expect(strict.price('gpt-4o-mini', { inputTokens: 10, cachedTokens: 0, outputTokens: 10 }).known).toBe(true);
  });

  it('rejects an override that is not a price, naming the model and the field', () => {
    expect(() => createPricer({ overrides: { 'my-model': { input: '0.5' as unknown as number, output: 1 } } })).toThrow(
      'prices override for "my-model": input must be a number >= 0 in USD per 1M tokens, got "0.5"',
    );
  });

  describe('offline', () => {
    const realFetch = globalThis.fetch;
    const calls: unknown[] = [];
    beforeEach(() => {
      globalThis.fetch = (async (...args: unknown[]) => {
        calls.push(args);
        throw new Error('no network in this test');
      }) as typeof fetch;
    });
    afterEach(() => {
      globalThis.fetch = realFetch;
    });

    it('prices from the bundled data without touching the network', async () => {
      const fresh = createPricer();
      fresh.price('gpt-5', { inputTokens: 1, cachedTokens: 0, outputTokens: 1 });
      fresh.price('unknown-model-x', { inputTokens: 1, cachedTokens: 0, outputTokens: 1 });
      // Stays on the wall clock: it checks an absence (no fetch), so it gives a background refresh time to start.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(calls).toEqual([]);
    });
  });
});

describe('reservationEstimate', () => {
  const pricer = createPricer({ overrides: { 'flat-model': { input: 1, output: 10 } } });
  const messages = [{ role: 'user', content: 'Write a haiku about rate limits' }];

  it('reserves estimated input plus max_completion_tokens, priced at the model rate', () => {
    const input = boundRequestTokens('flat-model', { messages });
    const estimate = reservationEstimate('flat-model', { model: 'flat-model', messages, max_completion_tokens: 200 }, pricer);
    expect(estimate).toEqual({ tokens: input + 200, inputTokens: input, outputTokens: 200, perChoice: 200, cost: (input * 1 + 200 * 10) / 1e6 });
  });

  it('reads max_tokens and max_output_tokens too, and multiplies by n', () => {
    expect(reservationEstimate('flat-model', { messages, max_tokens: 50, n: 3 }, pricer).outputTokens).toBe(150);
    expect(reservationEstimate('flat-model', { input: 'hi', max_output_tokens: 70 }, pricer).outputTokens).toBe(70);
  });

  it('falls back to the documented default when the call sets no cap and the model has neither a listed limit nor a known window', () => {
    expect(reservationEstimate('flat-model', { messages }, pricer).outputTokens).toBe(DEFAULT_MAX_OUTPUT_TOKENS);
    expect(DEFAULT_MAX_OUTPUT_TOKENS).toBe(65_536);
  });

  it("reserves the model's own output limit when the call sets none: listed, else the price table's context window", () => {
    const table = createPricer();
    expect(reservationEstimate('o4-mini', { messages }, table).outputTokens).toBe(100_000);
    expect(reservationEstimate('gpt-4o-mini', { messages }, table).outputTokens).toBe(16_384);
    expect(reservationEstimate('gpt-5', { messages, n: 2 }, table).outputTokens).toBe(256_000);
    // Not listed, but the price table knows its window: no answer can be longer.
    expect(table.contextWindow('deepseek-chat', 'deepseek')).toBe(64_000);
    expect(reservationEstimate('deepseek-chat', { messages }, table, { providerHint: 'deepseek' }).perChoice).toBe(64_000);
  });

  it('never reserves more input than the context window holds', () => {
    const table = createPricer();
    const window = table.contextWindow('gpt-4')!;
    const body = { messages: [{ role: 'user', content: 'word '.repeat(window) }] };
    expect(reservationEstimate('gpt-4', body, table).inputTokens).toBe(window);
  });

  it('reserves no output tokens for embeddings', () => {
    const estimate = reservationEstimate('text-embedding-3-small', { input: ['a', 'b'] }, createPricer(), { endpoint: '/v1/embeddings' });
    expect(estimate.outputTokens).toBe(0);
    expect(estimate.tokens).toBe(estimate.inputTokens);
  });
});

describe('price cache', () => {
  it('prices exactly as genai-prices does, for linear and tiered models alike, call after call', () => {
    const pricer = createPricer();
    const models: Array<[string, string]> = [
      ['gpt-4o-mini', 'openai'],
      ['gpt-4o', 'openai'],
      ['claude-3-5-sonnet-latest', 'anthropic'],
      ['gemini-1.5-pro', 'google'], // tiered above 128k input tokens
    ];
    const usages = [
      { inputTokens: 10, cachedTokens: 0, outputTokens: 5 },
      { inputTokens: 100_000, cachedTokens: 20_000, outputTokens: 3_000 },
      { inputTokens: 300_000, cachedTokens: 0, outputTokens: 1_000 },
      { inputTokens: 1_000, cachedTokens: 1_000, outputTokens: 0 },
    ];
    for (const [model, provider] of models) {
      for (let round = 0; round < 2; round++) {
        for (const u of usages) {
          const expected = calcPrice({ input_tokens: u.inputTokens, cache_read_tokens: u.cachedTokens, output_tokens: u.outputTokens }, model, { providerId: provider })!.total_price;
          expect(pricer.price(model, u, provider).cost).toBeCloseTo(expected, 12);
        }
      }
    }
  });
});

describe('reservationEstimate bounds', () => {
  const table = createPricer();
  const messages = [{ role: 'user', content: 'hi' }];

  it("reserves at most the model's output limit, times n, for max_tokens: 1e308", () => {
    const one = reservationEstimate('gpt-4o-mini', { messages, max_tokens: 1e308 }, table);
    expect(one.outputTokens).toBe(16_384);
    const two = reservationEstimate('gpt-4o-mini', { messages, max_tokens: 1e308, n: 2 }, table);
    expect(two.outputTokens).toBe(2 * 16_384);
    for (const e of [one, two]) {
      expect(Number.isFinite(e.cost)).toBe(true);
      expect(Number.isFinite(e.tokens)).toBe(true);
    }
  });

  it('bounds a model without a known window and an absurd n', () => {
    const custom = createPricer({ overrides: { 'flat-model': { input: 1, output: 10 } } });
    const e = reservationEstimate('flat-model', { messages, max_completion_tokens: Number.MAX_VALUE, n: 1e308 }, custom);
    expect(e.outputTokens).toBe(MAX_OUTPUT_TOKENS * MAX_CHOICES);
    expect(Number.isFinite(e.cost)).toBe(true);
  });
});

describe('fittingOutput', () => {
  it('finds the largest output of one choice that fits a room, on linear and tiered prices alike', () => {
    const table = createPricer();
    const messages = [{ role: 'user', content: 'Write.' }];
    fc.assert(
      fc.property(fc.constantFrom('gpt-4o-mini', 'o4-mini', 'gemini-1.5-pro', 'claude-3-5-sonnet-latest'), fc.integer({ min: 1, max: 4 }), fc.double({ min: 1e-5, max: 2, noNaN: true }), fc.option(fc.integer({ min: 1, max: 300_000 })), (model, n, cost, tokens) => {
        const body = { messages, n };
        const shape = callShape(model, body, table);
        const room = tokens === null ? { cost } : { cost, tokens };
        const fitted = fittingOutput(model, shape, table, room, 16);
        const fits = (perChoice: number) => {
          const e = pricedShape(model, shape, perChoice, table);
          return e.cost <= room.cost && (room.tokens === undefined || e.tokens <= room.tokens);
        };
        if (fitted === undefined) {
          expect(fits(16)).toBe(false);
        } else {
          expect(fits(fitted)).toBe(true);
          if (fitted < shape.perChoice) expect(fits(fitted + 1)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('reservation cost', () => {
  it('prices input at its dearest: a prompt-cache write on Anthropic costs more than plain input', () => {
    const table = createPricer();
    const body = { messages: [{ role: 'user', content: 'Read this long document.' }], max_tokens: 100 };
    const e = reservationEstimate('claude-sonnet-4-0', body, table, { providerHint: 'anthropic' });
    const plain = calcPrice({ input_tokens: e.inputTokens, output_tokens: 100 }, 'claude-sonnet-4-0', { providerId: 'anthropic' })!.total_price;
    const written = calcPrice({ input_tokens: e.inputTokens, cache_write_tokens: e.inputTokens, output_tokens: 100 }, 'claude-sonnet-4-0', { providerId: 'anthropic' })!.total_price;
    expect(written).toBeGreaterThan(plain);
    expect(e.cost).toBeCloseTo(written, 12);
    // Where a cache write costs no more (OpenAI), the plain price stands.
    const mini = reservationEstimate('gpt-4o-mini', body, table);
    expect(mini.cost).toBeCloseTo(calcPrice({ input_tokens: mini.inputTokens, output_tokens: 100 }, 'gpt-4o-mini', { providerId: 'openai' })!.total_price, 12);
  });
});

describe('reservationCost', () => {
  it('is exactly the larger of the plain and the cache-write price, on linear, tiered, overridden and unknown models', () => {
    const pricer = createPricer({ overrides: { 'my-model': { input: 2, output: 6, cachedInput: 1 } } });
    const models: Array<[string, string | undefined]> = [
      ['gpt-4o-mini', 'openai'],
      ['claude-sonnet-4-0', 'anthropic'],
      ['claude-3-5-sonnet-latest', undefined],
      ['gemini-1.5-pro', 'google'], // tiered above 128k input tokens
      ['my-model', undefined],
      ['no-such-model-anywhere', undefined],
      ['x'.repeat(300), undefined],
    ];
    const usages: Array<[number, number]> = [
      [0, 0],
      [10, 5],
      [100_000, 3_000],
      [300_000, 65_536],
      [1_234_567, 8_000_000],
    ];
    for (const [model, hint] of models) {
      for (const [input, output] of usages) {
        const plain = pricer.price(model, { inputTokens: input, outputTokens: output, cachedTokens: 0 }, hint).cost;
        const written = pricer.price(model, { inputTokens: input, outputTokens: output, cachedTokens: 0, cacheWriteTokens: input }, hint).cost;
        expect(pricer.reservationCost!(model, input, output, hint), `${model.slice(0, 40)} ${input}/${output}`).toBe(Math.max(plain, written));
      }
    }
  });
});
