import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { capUnits, COST_UNITS_PER_USD, CostSum, costUnits, formatUsd, formatUsdFixed, roundUsd, sumUsd, usdOf } from '../../src/store/money.js';

describe('money in whole 1e-10 USD units', () => {
  it('puts float noise back on the grid: 0.000315 × 3 is 0.000945, 0.1 + 0.2 is 0.3', () => {
    expect(costUnits(0.000315 + 0.000315 + 0.000315)).toBe(9_450_000);
    expect(roundUsd(0.000315 + 0.000315 + 0.000315)).toBe(0.000945);
    expect(sumUsd([0.1, 0.2])).toBe(0.3);
    expect(sumUsd(Array.from({ length: 1000 }, () => 0.000315))).toBe(0.315);
    expect(usdOf(costUnits(0.006989999999999997))).toBe(0.00699);
    expect(costUnits(-0)).toBe(0);
    expect(Object.is(costUnits(-1e-12), 0)).toBe(true);
  });

  it("keeps every token price of @pydantic/genai-prices exact: a call's calcPrice is a whole number of units", () => {
    const models = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-nano', 'o4-mini', 'gpt-3.5-turbo'];
    for (const model of models) {
      for (const [input, output] of [[1, 0], [0, 1], [1234, 567], [100_000, 30_000]] as const) {
        const price = calcPrice({ input_tokens: input, output_tokens: output }, model, { providerId: 'openai' });
        expect(price, model).toBeTruthy();
        const exact = Number(price!.total_price) * COST_UNITS_PER_USD;
        // Within float error of a whole number: nothing below the unit is rounded away.
        expect(Math.abs(exact - Math.round(exact)), `${model} ${input}/${output}`).toBeLessThan(1e-3);
      }
    }
  });

  it('formats exact decimals from integers, without exponent, at any size', () => {
    expect(formatUsd(9_450_000)).toBe('0.000945');
    expect(formatUsd(0)).toBe('0');
    expect(formatUsd(1)).toBe('0.0000000001');
    expect(formatUsd(-15n)).toBe('-0.0000000015');
    expect(formatUsd(50_000_000_000n)).toBe('5');
    // Past 2^53 units a number would round; bigint does not.
    expect(formatUsd(2n ** 63n - 1n)).toBe('922337203.6854775807');
    expect(formatUsdFixed(9_450_000n, 4)).toBe('0.0009');
    expect(formatUsdFixed(500_000n, 4)).toBe('0.0001');
    expect(formatUsdFixed(499_999n, 4)).toBe('0.0000');
    expect(formatUsdFixed(-500_000n, 4)).toBe('-0.0001');
    expect(formatUsdFixed(123_456_789_012_345n, 2)).toBe('12345.68');
  });

  it('sums exactly past 2^53 units (about $900,719) with bigint', () => {
    const sum = new CostSum();
    for (let i = 0; i < 3; i++) sum.add(900_000.0000000001);
    expect(sum.units).toBe(27_000_000_000_000_003n);
    expect(String(sum)).toBe('2700000.0000000003');
  });

  it('holds a cost beyond 2^53 units at that bound (the safe direction for a cap), and refuses NaN', () => {
    expect(costUnits(1e308)).toBe(Number.MAX_SAFE_INTEGER);
    expect(costUnits(Infinity)).toBe(Infinity);
    expect(capUnits(1e9)).toBe(1e19);
    expect(() => costUnits(NaN)).toThrow(/NaN/);
  });
});
