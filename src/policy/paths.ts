import { canonicalField } from '../protocol/fields.js';

/**
 * Folds the first segment of a path to its canonical field name (`tier` → `plan`,
 * `User_ID` → `user`), so that a condition, `per` or `tracking_key` may use any alias of
 * docs/protocol.md §1. Context keys are all lower-case, so the first segment is lower-cased too.
 */
export function canonicalPath(path: string): string {
  const dot = path.indexOf('.');
  if (dot < 0) return canonicalName(path);
  return canonicalName(path.slice(0, dot)) + path.slice(dot);
}

function canonicalName(name: string): string {
  const canonical: unknown = canonicalField(name);
  // canonicalField looks names up in a plain object, so `constructor` would come back as a function.
  return typeof canonical === 'string' ? canonical : name.toLowerCase();
}

/** Reads a dotted path from a context object; `undefined` when any step is missing. */
export function readPath(context: Record<string, unknown>, path: string): unknown {
  const canonical = canonicalPath(path);
  // Most paths are a bare field name: skip the split.
  if (!canonical.includes('.')) return Object.hasOwn(context, canonical) ? context[canonical] : undefined;
  let current: unknown = context;
  for (const key of canonical.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
