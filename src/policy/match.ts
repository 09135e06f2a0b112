import { readPath } from './paths.js';
import type { Comparison, Condition, Scalar } from './types.js';

/** What a condition is matched against: fields by canonical name, `model`, `endpoint`, `usage`. */
export type MatchContext = Record<string, unknown>;

const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** A number, or a string that spells one: field values travel as strings on the wire. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value;
  if (typeof value === 'string' && NUMERIC.test(value)) return Number(value);
  return undefined;
}

/**
 * Equality as a rules author means it. `null` matches a missing value. A field's string value
 * equals a number or boolean that it spells (`"42"` = 42, `"true"` = true), because field values
 * are strings on the wire while authors write `{ seats: 42 }` or `{ admin: true }`.
 */
export function looseEquals(actual: unknown, expected: Scalar): boolean {
  if (expected === null) return actual === null || actual === undefined;
  if (typeof actual === typeof expected) return actual === expected;
  if (typeof expected === 'boolean') return typeof actual === 'string' && actual === String(expected);
  if (typeof actual === 'boolean') return typeof expected === 'string' && expected === String(actual);
  if (typeof actual === 'number' || typeof expected === 'number') {
    const a = asNumber(actual);
    const b = asNumber(expected);
    return a !== undefined && b !== undefined && a === b;
  }
  return false;
}

/** Sign of `actual - operand`, or undefined when the two cannot be ordered. */
function order(actual: unknown, operand: number | string): number | undefined {
  if (typeof actual === 'string' && typeof operand === 'string') return actual < operand ? -1 : actual > operand ? 1 : 0;
  const a = asNumber(actual);
  const b = asNumber(operand);
  if (a === undefined || b === undefined) return undefined;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compare(actual: unknown, ops: Comparison): boolean {
  for (const [op, operand] of Object.entries(ops)) {
    let ok: boolean;
    switch (op) {
      case 'gt': {
        const o = order(actual, operand as number | string);
        ok = o !== undefined && o > 0;
        break;
      }
      case 'gte': {
        const o = order(actual, operand as number | string);
        ok = o !== undefined && o >= 0;
        break;
      }
      case 'lt': {
        const o = order(actual, operand as number | string);
        ok = o !== undefined && o < 0;
        break;
      }
      case 'lte': {
        const o = order(actual, operand as number | string);
        ok = o !== undefined && o <= 0;
        break;
      }
      case 'eq':
        ok = looseEquals(actual, operand as Scalar);
        break;
      case 'neq':
        ok = !looseEquals(actual, operand as Scalar);
        break;
      case 'in':
        ok = (operand as Scalar[]).some((v) => looseEquals(actual, v));
        break;
      case 'nin':
        ok = !(operand as Scalar[]).some((v) => looseEquals(actual, v));
        break;
      case 'contains':
        if (typeof actual === 'string') ok = actual.includes(String(operand));
        else if (Array.isArray(actual)) ok = actual.some((v) => looseEquals(v, operand as Scalar));
        else ok = false;
        break;
      case 'startsWith':
        ok = typeof actual === 'string' && actual.startsWith(operand as string);
        break;
      case 'endsWith':
        ok = typeof actual === 'string' && actual.endsWith(operand as string);
        break;
      default:
        // validateRules refuses unknown operators; an unvalidated one never matches.
        ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

function isComparison(value: unknown): value is Comparison {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether a call's context satisfies a condition. Every entry of a condition object must hold:
 * `and` (all of), `or` (any of), `not` (negation), and path entries, where a path is a field
 * name (aliases folded: `tier` reads `plan`) or a dotted path such as `usage.cost`, compared
 * to a plain value (equality, see {@link looseEquals}) or to operators, which must all hold.
 * Ordering operators compare numbers (numeric strings included) or two strings; a missing
 * or unorderable value satisfies none of `gt gte lt lte`.
 */
export function matchCondition(condition: Condition, context: MatchContext): boolean {
  for (const [key, entry] of Object.entries(condition)) {
    if (entry === undefined) continue;
    if (key === 'and') {
      if (!(entry as Condition[]).every((c) => matchCondition(c, context))) return false;
    } else if (key === 'or') {
      if (!(entry as Condition[]).some((c) => matchCondition(c, context))) return false;
    } else if (key === 'not') {
      if (matchCondition(entry as Condition, context)) return false;
    } else {
      const actual = readPath(context, key);
      const ok = isComparison(entry) ? compare(actual, entry) : looseEquals(actual, entry as Scalar);
      if (!ok) return false;
    }
  }
  return true;
}
