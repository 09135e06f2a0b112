import { nodeRequire } from '../node-builtins.js';
import { boundRequestTokens } from './estimate.js';
import { listedOutputLimit } from './output-limits.js';
import { foldModelName, priceLookups, type PriceLookup } from './model-names.js';
import { PRICE_UNITS, priceUsage, type PriceUnit, type PriceUsage, type PricedUsage, unitCount } from './usage-units.js';
import { TokenlayConfigError } from '../errors.js';

/** A price in USD per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
  /** Cached input tokens; the input price when absent. */
  cachedInput?: number;
}

/** Options of {@link createPricer}. */
export interface PricerOptions {
  /** Prices by model name (matched case-insensitively); they win over the price table. */
  overrides?: Record<string, ModelPrice>;
  /** A model with no price costs 0 with a warning (`'zero'`, default) or is reported for refusal (`'refuse'`). */
  unknownModel?: 'zero' | 'refuse';
}

/** The price of one call. */
export interface PriceResult {
  /** USD. */
  cost: number;
  /**
   * False when the call must be refused: the model has no price and `unknownModel` is `'refuse'`.
   * Under `'zero'` an unpriced model is `known` (at cost 0, with a warning); see `priced`.
   */
  known: boolean;
  /** Whether a price was found, in the overrides or the price table. */
  priced: boolean;
  /** Where the price came from. */
  source: 'override' | 'genai-prices' | 'none';
  /** Set when the model has no price: names the model and how to add one. */
  warning?: string;
}

/** Prices calls by model and token usage. */
export interface Pricer {
  /**
   * The cost of `usage` on `model`. `providerHint` is a genai-prices provider id (`openai`,
   * `azure`, `groq`, …) or the provider's base URL; without it OpenAI's prices are tried first.
   */
  price(model: string, usage: PricedUsage, providerHint?: string): PriceResult;
  /**
   * The USD a reservation holds for `inputTokens` and `outputTokens` on `model`: the larger of the
   * two prices of that usage with input uncached and with all input written to the prompt cache.
   * Optional; {@link createPricer}'s prices both in one lookup, and without it both are priced
   * with `price()`.
   */
  reservationCost?(model: string, inputTokens: number, outputTokens: number, providerHint?: string): number;
  /** The model's context window from the price table, when it is known. */
  contextWindow(model: string, providerHint?: string): number | undefined;
}

interface GenaiPrices {
  calcPrice(
    usage: Record<string, number>,
    model: string,
    options?: { providerId?: string; providerApiUrl?: string },
  ): { total_price: number; model: { context_window?: number } } | null;
}

type Lookup = PriceLookup;

let genai: GenaiPrices | undefined;
// The bundled table is ~0.5 MB of JS: load it on the first price, not on import. The package
// reaches the network only through updatePrices(), which tokenlay never calls: prices are the
// ones bundled with the installed version.
function table(): GenaiPrices {
  return (genai ??= nodeRequire('pricing calls', import.meta.url)('@pydantic/genai-prices') as GenaiPrices);
}

const MTOK = 1_000_000;
// Engines refuse longer names (400 invalid_model) before pricing; this guards direct use.
const MAX_PRICED_NAME_CHARS = 256;
// Model names come from requests, so the lookup cache must not grow without bound.
const CACHE_LIMIT = 1000;
// Date- and time-of-day-dependent prices must be re-read now and then.
const RATES_TTL_MS = 5 * 60_000;

/**
 * USD per unit of each usage key, and per call, when a model's price is linear in its usage:
 * then a price is a sum, and the price table is searched only once per model and period.
 */
interface Rates {
  perCall: number;
  perUnit: PriceUsage;
  until: number;
}

const normalize = foldModelName;

/** The price of `units` at linear `rates`: the per-call price plus each key at its rate. */
function sumRates(rates: Rates, units: PriceUsage): number {
  let cost = rates.perCall;
  for (const unit of Object.keys(units) as PriceUnit[]) cost += units[unit] * rates.perUnit[unit];
  return cost;
}

/** Names to try for an override: as given, without an OpenAI-style date snapshot, without a vendor prefix. */
function overrideNames(model: string): string[] {
  const name = normalize(model);
  const undated = name.replace(/-\d{4}-\d{2}-\d{2}$/, '');
  const bare = name.includes('/') ? name.slice(name.lastIndexOf('/') + 1) : name;
  return [...new Set([name, undated, bare, bare.replace(/-\d{4}-\d{2}-\d{2}$/, '')])];
}

function validateOverrides(overrides: Record<string, ModelPrice>): Map<string, ModelPrice> {
  const map = new Map<string, ModelPrice>();
  for (const [model, price] of Object.entries(overrides)) {
    for (const field of ['input', 'output', 'cachedInput'] as const) {
      const value = price?.[field];
      if (field === 'cachedInput' && value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new TokenlayConfigError(
          `tokenlay: prices override for ${JSON.stringify(model)}: ${field} must be a number >= 0 in USD per 1M tokens, got ${JSON.stringify(value)}.`,
        );
      }
    }
    map.set(normalize(model), price);
  }
  return map;
}

function unknownWarning(model: string, refuse: boolean): string {
  const example = `prices: { ${JSON.stringify(model)}: { input: 0.5, output: 1.5 } } (USD per 1M tokens)`;
  return refuse
    ? `No price is known for model ${JSON.stringify(model)} and unknown models are refused (unknownModel: 'refuse'). Add a price with ${example}.`
    : `No price is known for model ${JSON.stringify(model)}; it is metered at $0. Add a price with ${example}.`;
}

/**
 * Creates a pricer over the price table of `@pydantic/genai-prices` (offline, bundled data) and
 * your overrides. Cached input tokens are priced at the cached rate, and tokens written to the
 * prompt cache at the cache-write rate (overrides price them as input).
 *
 * @throws TypeError when an override is not a set of non-negative numbers.
 */
export function createPricer(opts: PricerOptions = {}): Pricer {
  const overrides = validateOverrides(opts.overrides ?? {});
  const refuse = opts.unknownModel === 'refuse';
  // model + hint → the lookup that found a price, or null when none did.
  const lookups = new Map<string, Lookup | null>();

  function calc(lookup: Lookup, usage: Record<string, number>) {
    const { model, ...options } = lookup;
    return table().calcPrice(usage, model, options);
  }

  function find(model: string, hint: string | undefined): Lookup | null {
    // A name longer than any model's is not searched for: each search walks the whole table.
    if (model.length > MAX_PRICED_NAME_CHARS) return null;
    const cacheKey = `${hint ?? ''}\u0000${normalize(model)}`;
    const cached = lookups.get(cacheKey);
    if (cached !== undefined) return cached;
    let found: Lookup | null = null;
    for (const lookup of priceLookups(model, hint)) {
      try {
        if (calc(lookup, { input_tokens: 0 })) {
          found = lookup;
          break;
        }
      } catch {
        // A malformed entry in the table is the same as no entry for this model.
      }
    }
    if (lookups.size >= CACHE_LIMIT) lookups.clear();
    lookups.set(cacheKey, found);
    return found;
  }

  // calcPrice walks the whole table on every call; most models are priced linearly, so their
  // rate per usage key is read once (each key probed with the keys it is a part of) and checked
  // against calcPrice on two mixed probes; tiered prices fail the check and go to calcPrice.
  const rates = new Map<string, Rates | null>();
  const windows = new Map<string, number | undefined>();
  function linearRates(lookup: Lookup, key: string): Rates | null {
    const now = Date.now();
    const known = rates.get(key);
    if (known !== undefined && (known === null || known.until > now)) return known;
    let found: Rates | null = null;
    try {
      found = probeRates(lookup, now);
    } catch {
      found = null;
    }
    if (rates.size >= CACHE_LIMIT) rates.clear();
    rates.set(key, found);
    return found;
  }

  function probeRates(lookup: Lookup, now: number): Rates | null {
    const zero = priceUsage({ inputTokens: 0, outputTokens: 0, cachedTokens: 0 });
    const total = (usage: Partial<PriceUsage>) => calc(lookup, { ...zero, ...usage })?.total_price;
    const perCall = total({});
    if (perCall === undefined) return null;
    const perUnit = { ...zero };
    // Wider keys first: a key's probe includes every key it is a part of, whose rates are known by then.
    const units = (Object.keys(PRICE_UNITS) as PriceUnit[]).sort((x, y) => PRICE_UNITS[x].length - PRICE_UNITS[y].length);
    for (const unit of units) {
      const probe: Partial<PriceUsage> = { [unit]: MTOK };
      for (const wider of PRICE_UNITS[unit]) probe[wider] = MTOK;
      const price = total(probe);
      if (price === undefined) return null;
      perUnit[unit] = (price - perCall) / MTOK - PRICE_UNITS[unit].reduce((sum, wider) => sum + perUnit[wider], 0);
    }
    const candidate: Rates = { perCall, perUnit, until: now + RATES_TTL_MS };
    const mixed = [
      { inputTokens: 1234, cachedTokens: 567, cacheWriteTokens: 100, inputAudioTokens: 300, cachedAudioTokens: 50, inputImageTokens: 40, cachedImageTokens: 10, outputTokens: 89, outputAudioTokens: 20, outputImageTokens: 5, reasoningTokens: 30, audioSeconds: 7 },
      { inputTokens: 987_654, cachedTokens: 12_345, outputTokens: 345_678, reasoningTokens: 1000 },
    ];
    const linear = mixed.every((u) => {
      const expected = total(priceUsage(u)) ?? NaN;
      const got = sumRates(candidate, priceUsage(u));
      return Math.abs(expected - got) <= 1e-9 * Math.max(1, Math.abs(expected));
    });
    return linear ? candidate : null;
  }

  function fromOverride(model: string): ModelPrice | undefined {
    // Most engines have no overrides: no name variants to build on every price.
    if (overrides.size === 0) return undefined;
    for (const name of overrideNames(model)) {
      const price = overrides.get(name);
      if (price) return price;
    }
    return undefined;
  }

  function price(model: string, usage: PricedUsage, providerHint: string | undefined): PriceResult {
    const units = priceUsage(usage);
    const override = model.length > MAX_PRICED_NAME_CHARS ? undefined : fromOverride(model);
    if (override) {
      const input = units.input_tokens;
      const cached = units.cache_read_tokens;
      const cost = ((input - cached) * override.input + cached * (override.cachedInput ?? override.input) + units.output_tokens * override.output) / MTOK;
      return { cost, known: true, priced: true, source: 'override' };
    }
    const lookup = find(model, providerHint);
    if (lookup) {
      const r = linearRates(lookup, `${providerHint ?? ''}\u0000${model}`);
      if (r) return { cost: sumRates(r, units), known: true, priced: true, source: 'genai-prices' };
      const result = calc(lookup, units);
      if (result) return { cost: result.total_price, known: true, priced: true, source: 'genai-prices' };
    }
    return { cost: 0, known: !refuse, priced: false, source: 'none', warning: unknownWarning(model, refuse) };
  }

  return {
    price,
    reservationCost(model, inputTokens, outputTokens, providerHint) {
      const lookup = model.length > MAX_PRICED_NAME_CHARS || fromOverride(model) ? null : find(model, providerHint);
      const r = lookup && linearRates(lookup, `${providerHint ?? ''}\u0000${model}`);
      if (r) {
        // The terms sumRates() adds for these two usages, in its order (the zero ones change nothing).
        const inTokens = unitCount(inputTokens);
        const input = r.perCall + inTokens * r.perUnit.input_tokens;
        const output = unitCount(outputTokens) * r.perUnit.output_tokens;
        return Math.max(input + output, input + inTokens * r.perUnit.cache_write_tokens + output);
      }
      // An override prices a cache write as input; tiered and unknown prices take the table's word twice.
      const plain: PricedUsage = { inputTokens, outputTokens, cachedTokens: 0 };
      return Math.max(price(model, plain, providerHint).cost, price(model, { ...plain, cacheWriteTokens: inputTokens }, providerHint).cost);
    },
    contextWindow(model, providerHint) {
      const key = `${providerHint ?? ''}\u0000${model}`;
      if (windows.has(key)) return windows.get(key);
      const lookup = find(model, providerHint);
      const value = lookup ? (calc(lookup, { input_tokens: 0 })?.model.context_window ?? undefined) : undefined;
      if (windows.size >= CACHE_LIMIT) windows.clear();
      windows.set(key, value);
      return value;
    },
  };
}

/**
 * Output tokens reserved for one choice of a call that sets no `max_tokens` /
 * `max_completion_tokens` / `max_output_tokens`, on a model whose output limit is neither listed
 * (`output-limits.ts`) nor bounded by a context window in the price table: Gemini 2.5's and
 * Claude 4's largest ordinary limits. Not a bound: such a model writing more can pass a cap by the
 * difference; a call that sets its own output limit is exact.
 */
export const DEFAULT_MAX_OUTPUT_TOKENS = 65_536;

/**
 * The most output tokens reserved for one choice of a model whose context window is unknown,
 * however large the call's cap: no model today writes more in one answer.
 */
export const MAX_OUTPUT_TOKENS = 1_048_576;

/** The most choices (`n`) one call is reserved for: OpenAI's own limit. */
export const MAX_CHOICES = 128;

/** What {@link reservationEstimate} returns. */
export interface ReservationEstimate {
  /** Input plus the most output the call may produce. */
  tokens: number;
  /** USD for `tokens` at the model's price, input at its dearest (uncached, or written to the prompt cache). 0 for an unpriced model. */
  cost: number;
  inputTokens: number;
  /** `perChoice` times the choices (`n`). */
  outputTokens: number;
  /** The most output tokens of one choice: what an output limit written into the call would say. */
  perChoice: number;
}

/** Options of {@link reservationEstimate}. */
export interface ReservationOptions {
  /** The OpenAI REST path (`/v1/embeddings` reserves no output). */
  endpoint?: string;
  providerHint?: string;
  /** Lowers the output of one choice to at most this many tokens (a clamp the engine writes into the call). */
  maxOutputPerChoice?: number;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** The output limit a call sets itself, in the first field the endpoint reads. */
export function callerOutputLimit(body: Record<string, unknown>): number | undefined {
  const gemini = body.generationConfig as Record<string, unknown> | undefined;
  return positive(body.max_completion_tokens) ?? positive(body.max_tokens) ?? positive(body.max_output_tokens) ?? positive(gemini?.maxOutputTokens);
}

/** The answers a call asks for: `n`, or Gemini's `generationConfig.candidateCount`; at most {@link MAX_CHOICES}. */
export function choicesOf(body: Record<string, unknown>): number {
  const n = positive(body.n) ?? positive((body.generationConfig as Record<string, unknown> | undefined)?.candidateCount) ?? 1;
  return Math.min(Math.max(1, Math.floor(n)), MAX_CHOICES);
}

/**
 * The most a call can use, to reserve before it runs: an upper bound of its input tokens
 * (`boundRequestTokens`) plus its most output: the call's own cap (`max_completion_tokens`,
 * `max_tokens`, `max_output_tokens` or Gemini's `generationConfig.maxOutputTokens`), else the model's own output limit (listed, else its
 * context window from the price table, else {@link DEFAULT_MAX_OUTPUT_TOKENS}), times `n` (at most
 * {@link MAX_CHOICES}). A cap above the model's limit is held to it ({@link MAX_OUTPUT_TOKENS}
 * when unknown), so `max_tokens: 1e308` reserves a finite, real amount. Embeddings produce no
 * output tokens.
 */
export function reservationEstimate(model: string, requestBody: unknown, pricer: Pricer, opts: ReservationOptions = {}): ReservationEstimate {
  const shape = callShape(model, requestBody, pricer, opts);
  return pricedShape(model, shape, opts.maxOutputPerChoice === undefined ? shape.perChoice : Math.min(shape.perChoice, opts.maxOutputPerChoice), pricer, opts);
}

/** What a reservation is made of, before output is priced: see {@link reservationEstimate}. */
export interface CallShape {
  inputTokens: number;
  /** The most output of one choice, unclamped. */
  perChoice: number;
  choices: number;
}

/** The input bound, the most output of one choice and the choices of a call (the costly part of a reservation: it reads the prompt). */
export function callShape(model: string, requestBody: unknown, pricer: Pricer, opts: ReservationOptions = {}): CallShape {
  const body = (typeof requestBody === 'object' && requestBody !== null ? requestBody : {}) as Record<string, unknown>;
  const window = pricer.contextWindow(model, opts.providerHint);
  const inputTokens = boundRequestTokens(model, body, window);
  const embeddings = opts.endpoint ? /embeddings/.test(opts.endpoint) : /embedding/i.test(model);
  if (embeddings) return { inputTokens, perChoice: 0, choices: 0 };
  const cap = callerOutputLimit(body);
  const known = listedOutputLimit(model) ?? window;
  const perChoice = known !== undefined ? Math.min(Math.ceil(cap ?? known), known) : Math.min(Math.ceil(cap ?? DEFAULT_MAX_OUTPUT_TOKENS), MAX_OUTPUT_TOKENS);
  return { inputTokens, perChoice, choices: choicesOf(body) };
}

/** The reservation of a call of `shape` whose choices write at most `perChoice` output tokens each. */
export function pricedShape(model: string, shape: CallShape, perChoice: number, pricer: Pricer, opts: ReservationOptions = {}): ReservationEstimate {
  const outputTokens = perChoice * shape.choices;
  const { inputTokens } = shape;
  // Input is priced at its dearest: plain, or all written to the prompt cache (Anthropic bills a
  // cache write above the input price).
  const cost =
    pricer.reservationCost?.(model, inputTokens, outputTokens, opts.providerHint) ??
    Math.max(
      pricer.price(model, { inputTokens, outputTokens, cachedTokens: 0 }, opts.providerHint).cost,
      pricer.price(model, { inputTokens, outputTokens, cachedTokens: 0, cacheWriteTokens: inputTokens }, opts.providerHint).cost,
    );
  return { tokens: inputTokens + outputTokens, cost, inputTokens, outputTokens, perChoice };
}

/** Where output would meet `room` if the price grew linearly between `low` and `high` tokens a choice. */
function linearGuess(model: string, shape: CallShape, pricer: Pricer, room: { tokens?: number; cost?: number }, low: number, high: number, opts: ReservationOptions): number {
  let guess = high;
  if (room.tokens !== undefined && shape.choices > 0) guess = Math.min(guess, Math.floor((room.tokens - shape.inputTokens) / shape.choices));
  if (room.cost !== undefined) {
    const a = pricedShape(model, shape, low, pricer, opts).cost;
    const b = pricedShape(model, shape, high, pricer, opts).cost;
    if (b > a) guess = Math.min(guess, low + Math.floor(((room.cost - a) * (high - low)) / (b - a)));
  }
  return guess;
}

/**
 * The largest output of one choice, at least `least` (or the call's own, when lower), with which a
 * call of `shape` stays within `room` (tokens and USD, each at most, when given), or undefined when
 * not even that fits. Prices grow with output, so a binary search finds it, tiered prices included.
 */
export function fittingOutput(
  model: string,
  shape: CallShape,
  pricer: Pricer,
  room: { tokens?: number; cost?: number },
  least: number,
  opts: ReservationOptions = {},
): number | undefined {
  const at = (perChoice: number) => {
    const e = pricedShape(model, shape, perChoice, pricer, opts);
    return (room.tokens === undefined || e.tokens <= room.tokens) && (room.cost === undefined || e.cost <= room.cost);
  };
  if (at(shape.perChoice)) return shape.perChoice;
  let low = Math.min(least, shape.perChoice);
  if (!at(low)) return undefined;
  let high = shape.perChoice; // does not fit
  // Most prices are linear in output: a guess from the price of `low` and of `high` is usually
  // the answer, checked with two more prices; the search below narrows whatever it leaves.
  const guess = linearGuess(model, shape, pricer, room, low, high, opts);
  if (guess > low && guess < high) {
    if (at(guess)) low = guess;
    else high = guess;
    if (low === guess && !at(guess + 1)) return guess;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (at(mid)) low = mid;
    else high = mid;
  }
  return low;
}
