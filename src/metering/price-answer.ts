import type { Pricer, PriceResult } from './prices.js';
import type { PricedUsage } from './usage-units.js';

/** The cost of one answered call, the model it is booked under, and a warning when its price is not the served model's own. */
export interface AnswerPrice {
  /** USD. */
  cost: number;
  /** The model the provider said it used, else the one sent. */
  model: string | undefined;
  /** Set when the served model has no price: it was priced as the model asked for, or at $0. */
  warning?: string;
}

/** The warning of a call priced as the model asked for because the model that answered has none. */
export function servedModelWarning(served: string, asked: string): string {
  return `No price is known for model ${JSON.stringify(served)}, which answered; the call is priced as ${JSON.stringify(asked)}, the model asked for. Add a price for ${JSON.stringify(served)} to price it as itself.`;
}

/**
 * Prices an answered call as the model that answered, as the provider bills it: a router serving
 * another model, an alias answered by a dated snapshot (`gpt-4o-2024-05-13` prices as itself).
 * A price override is your word and wins: one naming the served model, else one naming the model
 * sent. A served model with no price is priced as the model sent, with a warning that says so;
 * priced by neither, the call costs $0 with the unknown-model warning naming the model sent.
 */
export function priceAnswer(pricer: Pricer, sent: string | undefined, answered: string | undefined, used: PricedUsage, providerHint?: string): AnswerPrice {
  const booked = answered ?? sent;
  const asSent = sent === undefined ? undefined : pricer.price(sent, used, providerHint);
  if (answered === undefined || answered === sent) return result(asSent, booked);
  const asAnswered = pricer.price(answered, used, providerHint);
  if (asAnswered.source === 'override' || (asSent?.source !== 'override' && asAnswered.priced)) return { cost: asAnswered.cost, model: booked };
  if (asSent?.priced) {
    return asSent.source === 'override' ? { cost: asSent.cost, model: booked } : { cost: asSent.cost, model: booked, warning: servedModelWarning(answered, sent!) };
  }
  return { cost: 0, model: booked, warning: asSent?.warning ?? asAnswered.warning };
}

function result(price: PriceResult | undefined, model: string | undefined): AnswerPrice {
  if (price?.priced) return { cost: price.cost, model };
  return price?.warning ? { cost: 0, model, warning: price.warning } : { cost: 0, model };
}
