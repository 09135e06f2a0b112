import type { Pricer } from './prices.js';
import type { MeteredUsage } from './usage.js';

/** The cost of one answered call, the model it is booked under, and a warning when it has no price. */
export interface AnswerPrice {
  /** USD. */
  cost: number;
  /** The model the provider said it used, else the one sent. */
  model: string | undefined;
  /** Set only when neither the model sent nor the model answered has a price. */
  warning?: string;
}

/**
 * Prices an answered call: as the model that was sent (a price override names that one), else as
 * the model the provider says it used (often a dated snapshot of it). A price found either way
 * means no "metered at $0" warning; only a call priced by neither carries one, naming the model
 * that was sent.
 */
export function priceAnswer(pricer: Pricer, sent: string | undefined, answered: string | undefined, used: MeteredUsage, providerHint?: string): AnswerPrice {
  const booked = answered ?? sent;
  const asSent = sent === undefined ? undefined : pricer.price(sent, used, providerHint);
  if (asSent?.priced) return { cost: asSent.cost, model: booked };
  if (answered !== undefined && answered !== sent) {
    const asAnswered = pricer.price(answered, used, providerHint);
    if (asAnswered.priced) return { cost: asAnswered.cost, model: booked };
    return { cost: 0, model: booked, warning: asSent?.warning ?? asAnswered.warning };
  }
  return { cost: 0, model: booked, warning: asSent?.warning };
}
