import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPricer } from '../../src/metering/prices.js';
import { priceLookups } from '../../src/metering/model-names.js';

const usage = { inputTokens: 1_000_000, cachedTokens: 200_000, outputTokens: 300_000 };

describe('model name folding', () => {
  const pricer = createPricer();

  it('prices openai/us-west-2/o3-mini-2025-01-31 as o3-mini-2025-01-31, with no $0 warning', () => {
    const routed = pricer.price('openai/us-west-2/o3-mini-2025-01-31', usage);
    const plain = pricer.price('o3-mini-2025-01-31', usage);
    expect(plain.cost).toBeGreaterThan(0);
    expect(routed).toEqual(plain);
    expect(routed.warning).toBeUndefined();
  });

  it('folds case and known provider prefixes', () => {
    const base = pricer.price('gpt-4o-mini', usage).cost;
    for (const name of ['GPT-4o-mini', ' gpt-4o-mini ', 'openai/gpt-4o-mini', 'OpenAI/GPT-4O-MINI', 'azure/gpt-4o-mini', 'openai/eu/prod/gpt-4o-mini']) {
      expect(pricer.price(name, usage).cost, name).toBeCloseTo(base, 12);
    }
    const claude = pricer.price('claude-3-5-sonnet-latest', usage).cost;
    expect(claude).toBeGreaterThan(0);
    expect(pricer.price('anthropic/claude-3-5-sonnet-latest', usage).cost).toBeCloseTo(claude, 12);
    expect(pricer.price('Anthropic/Claude-3-5-Sonnet-Latest', usage).cost).toBeCloseTo(claude, 12);
  });

  it('keeps slash-named ids whole where the provider names them so (OpenRouter)', () => {
    const lookups = priceLookups('anthropic/claude-3.5-sonnet', 'https://openrouter.ai/api/v1');
    expect(lookups[0]).toEqual({ providerApiUrl: 'https://openrouter.ai/api/v1', model: 'anthropic/claude-3.5-sonnet' });
    expect(pricer.price('anthropic/claude-3.5-sonnet', usage, 'https://openrouter.ai/api/v1').source).toBe('genai-prices');
  });

  it('still follows unknownModels for a name that folds to nothing known', () => {
    expect(pricer.price('openai/us-west-2/acme-llm-9000', usage)).toMatchObject({ cost: 0, priced: false });
    expect(createPricer({ unknownModel: 'refuse' }).price('openai/us-west-2/acme-llm-9000', usage)).toMatchObject({ known: false, priced: false });
  });

  it('does not search the table for a name over 256 characters', () => {
    expect(pricer.price(`gpt-4o-mini${'x'.repeat(300)}`, usage)).toMatchObject({ cost: 0, priced: false });
  });

  it('prices any casing and any provider/region prefix of a known model as the model (property)', () => {
    const models = ['gpt-4o-mini', 'o3-mini-2025-01-31', 'gpt-4o', 'claude-3-5-sonnet-latest', 'deepseek-chat', 'mistral-large-latest'];
    const prices = new Map(models.map((m) => [m, pricer.price(m, usage).cost]));
    const segment = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
    fc.assert(
      fc.property(
        fc.constantFrom(...models),
        fc.array(segment, { maxLength: 2 }),
        fc.constantFrom('', 'openai/', 'azure/', 'anthropic/'),
        fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
        (model, regions, provider, upper) => {
          const cased = [...model].map((c, i) => (upper[i % upper.length] ? c.toUpperCase() : c)).join('');
          const name = provider + regions.map((r) => `${r}/`).join('') + cased;
          return Math.abs(pricer.price(name, usage).cost - prices.get(model)!) < 1e-12;
        },
      ),
      { numRuns: 150 },
    );
  });
});
