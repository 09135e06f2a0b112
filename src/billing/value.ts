import { costUnits, formatUsd } from '../store/money.js';
import type { LedgerRow } from '../store/types.js';

/** What a usage event's value counts: USD with the plan's markup, or tokens. */
export type ValueKind = 'cost' | 'tokens';
export const VALUE_KINDS: readonly ValueKind[] = ['cost', 'tokens'];

/** Markup factors are applied on a grid of 1e-6, so that 1.3 is exactly 13/10 and never 1.2999…. */
const MARKUP_SCALE = 1_000_000n;

/**
 * A call's billed value, as an exact decimal string: with `cost`, its USD cost times the markup of
 * its plan (`plans.<plan>.markup`, default 1), rounded half up to 1e-10 USD; with `tokens`, input
 * plus output tokens.
 */
export function valueOf(row: LedgerRow, kind: ValueKind, markups: Record<string, number>): string {
  if (kind === 'tokens') return String(row.inputTokens + row.outputTokens);
  return formatUsd(valueUnits(row, markups));
}

/** The cost of a row with its plan's markup, in 1e-10 USD units. */
export function valueUnits(row: LedgerRow, markups: Record<string, number>): bigint {
  const units = BigInt(costUnits(row.cost));
  const markup = markups[row.fields.plan ?? ''];
  if (markup === undefined || markup === 1) return units;
  const factor = BigInt(Math.round(markup * Number(MARKUP_SCALE)));
  return (units * factor + MARKUP_SCALE / 2n) / MARKUP_SCALE;
}

/** Adds decimal value strings exactly (cost values have at most 10 decimals). */
export function addValues(values: Iterable<string>): string {
  let sum = 0n;
  for (const v of values) sum += toUnits(v);
  return formatUsd(sum);
}

/** A decimal value string in 1e-10 units. */
export function toUnits(value: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,10}))?$/.exec(value);
  if (!m) throw new Error(`not a decimal value: ${JSON.stringify(value)}`);
  const n = BigInt(m[2]!) * 10_000_000_000n + BigInt((m[3] ?? '').padEnd(10, '0'));
  return m[1] ? -n : n;
}
