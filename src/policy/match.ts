import { readPath } from './paths.js';
import type { Comparison, Condition, Scalar } from './types.js';

/** What a condition is matched against: fields by canonical name, `model`, `endpoint`, `usage`. */
export type MatchContext = Record<string, unknown>;

// A decimal number as authors and apps spell one: no surrounding spaces, no `Infinity`, no hex.
const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A finite number, or a string that spells one: field values travel as strings on the wire. */
export function numericValue(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && NUMERIC.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * The canonical string of a scalar: a string as it is, a number as JavaScript prints it (`1`,
 * `0.5`, `1e+21`), a boolean as `true`/`false`. Objects and arrays have none.
 */
export function canonicalString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * Equality as a rules author means it: both sides compared as canonical strings, because field
 * values are strings on the wire while authors write `{ seats: 42 }` or `{ admin: true }`. So
 * `{ user: 1 }` matches `"1"` and not `"01"`, `"1.0"`, `"+1"`, `"1e0"` or `" 1 "`: an id is the
 * text the app sent. `null` matches a missing value.
 */
export function looseEquals(actual: unknown, expected: Scalar): boolean {
  if (expected === null) return actual === null || actual === undefined;
  // Two numbers (usage read-outs) compare as numbers, so 0 equals -0.
  if (typeof actual === 'number' && typeof expected === 'number') return actual === expected;
  const a = canonicalString(actual);
  return a !== undefined && a === canonicalString(expected);
}

/** Sign of `actual - operand` when both are numbers or numeric strings, else undefined. */
function order(actual: unknown, operand: number | string): number | undefined {
  const a = numericValue(actual);
  const b = numericValue(operand);
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
 * to a plain value (equality of canonical strings, see {@link looseEquals}) or to operators,
 * which must all hold. `gt gte lt lte` compare numerically when both sides are numbers or numeric
 * strings (`gt: '10'` does not match `'9'`); otherwise (a missing value, a word) they are false.
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
