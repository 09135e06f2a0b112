/**
 * Money as integers. Counters and the ledger keep costs in **cost units of 1e-10 USD**: a price
 * given in USD per million tokens with up to 4 decimals (every price in `@pydantic/genai-prices`
 * today) is a whole number of units per token, so a call's cost is exact and sums of costs never
 * drift (0.1 + 0.2). The engine and metering speak USD (numbers); each store converts at its
 * boundary with {@link costUnits} and gives USD back with {@link usdOf}.
 *
 * Limits: a JavaScript number holds integers exactly up to 2^53 units (about $900,719.92), which
 * bounds one call and one counter read in JavaScript. SQLite `INTEGER`, PostgreSQL `bigint` and
 * Redis `HINCRBY` add in 64 bits (up to 2^63 units, about $922 million per counter). Sums over the
 * ledger (usage reports, exports, `/metrics`) add in `bigint`, exact at any size, and are shown
 * with {@link formatUsd}, which prints the exact decimal.
 */

/** Cost units in one USD: a unit is 1e-10 USD. */
export const COST_UNITS_PER_USD = 10_000_000_000;

const UNITS_BIG = 10_000_000_000n;
const DECIMALS = 10;

/**
 * USD (as metering gives it, float noise included) to whole cost units, rounded to the nearest.
 * An amount beyond 2^53 units (about $900,719, far past any one call) is held at that bound, the
 * safe direction for a cap; Infinity stays Infinity (an unchecked max).
 *
 * @throws {RangeError} for NaN, which no price or usage should produce.
 */
export function costUnits(usd: number): number {
  if (Number.isNaN(usd)) throw new RangeError('tokenlay: a cost is NaN; check the price or usage that produced it.');
  if (usd === Infinity || usd === -Infinity) return usd;
  const units = Math.round(usd * COST_UNITS_PER_USD);
  if (units > Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
  if (units < -Number.MAX_SAFE_INTEGER) return -Number.MAX_SAFE_INTEGER;
  // Math.round(-0.4) is -0: a cost of zero is 0.
  return units === 0 ? 0 : units;
}

/**
 * A cap in USD as cost units for comparison only: not bounded like {@link costUnits}, so a cap
 * above 2^53 units (about $900,719) stays above every count, as the user meant.
 */
export function capUnits(usd: number): number {
  return Number.isFinite(usd) ? Math.round(usd * COST_UNITS_PER_USD) : usd;
}

/** Whole cost units back to USD: the double nearest the exact decimal, so it prints as that decimal. */
export function usdOf(units: number | bigint): number {
  return Number(units) / COST_UNITS_PER_USD;
}

/** `usd` put on the 1e-10 USD grid: `0.0009450000000000001` becomes `0.000945`. */
export function roundUsd(usd: number): number {
  return Number.isFinite(usd) ? usdOf(costUnits(usd)) : usd;
}

/**
 * Cost units as an exact decimal string of USD, without exponent or trailing zeros:
 * `9_450_000n` → `'0.000945'`, `0` → `'0'`, `-15n` → `'-0.0000000015'`.
 */
export function formatUsd(units: number | bigint): string {
  let n = typeof units === 'bigint' ? units : BigInt(Math.round(units));
  const sign = n < 0n ? '-' : '';
  if (n < 0n) n = -n;
  const whole = n / UNITS_BIG;
  const frac = (n % UNITS_BIG).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return `${sign}${whole}${frac ? `.${frac}` : ''}`;
}

/**
 * Cost units as USD with exactly `decimals` decimals (0 to 10), rounded half away from zero on the
 * integers: `formatUsdFixed(9_450_000n, 4)` → `'0.0009'`.
 */
export function formatUsdFixed(units: number | bigint, decimals: number): string {
  let n = typeof units === 'bigint' ? units : BigInt(Math.round(units));
  const sign = n < 0n ? '-' : '';
  if (n < 0n) n = -n;
  const step = 10n ** BigInt(DECIMALS - decimals);
  const rounded = (n + step / 2n) / step;
  const scale = 10n ** BigInt(decimals);
  const whole = rounded / scale;
  const frac = decimals > 0 ? `.${(rounded % scale).toString().padStart(decimals, '0')}` : '';
  return `${rounded === 0n ? '' : sign}${whole}${frac}`;
}

/** An exact running sum of USD amounts (each put on the unit grid), in `bigint` units. */
export class CostSum {
  /** The sum so far, in cost units. */
  units = 0n;

  /** Adds an amount in USD. */
  add(usd: number): this {
    if (usd !== 0) this.units += BigInt(costUnits(usd));
    return this;
  }

  /** The sum in USD, as a number (exact to about $900,719; the nearest double beyond). */
  get usd(): number {
    return usdOf(this.units);
  }

  /** The exact decimal of the sum in USD. */
  toString(): string {
    return formatUsd(this.units);
  }
}

/** The exact sum in USD of `amounts` (each put on the unit grid), as a number. */
export function sumUsd(amounts: Iterable<number>): number {
  const sum = new CostSum();
  for (const usd of amounts) sum.add(usd);
  return sum.usd;
}
