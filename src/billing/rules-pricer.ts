import { createPricer, type Pricer } from '../metering/prices.js';
import type { RulesDocument } from '../policy/types.js';

/** The pricer a rules file implies: its `prices:` (USD per million tokens) win over the price table. */
export function pricerOf(rules: RulesDocument | undefined): Pricer {
  const overrides = Object.fromEntries(
    Object.entries(rules?.prices ?? {}).map(([model, p]) => [model, { input: p.input, output: p.output, ...(p.cached_input === undefined ? {} : { cachedInput: p.cached_input }) }]),
  );
  return createPricer({ overrides });
}
