import { FIELD_ALIASES, WELL_KNOWN_FIELDS } from '../protocol/fields.js';

/** Names a condition, `per` or `tracking_key` may use without declaring them. */
const BUILT_IN = [...WELL_KNOWN_FIELDS, ...Object.keys(FIELD_ALIASES), 'model', 'endpoint', 'usage'];

/** A custom field name as `fields:` and `customFields` take it: what the wire allows. */
export const CUSTOM_FIELD_NAME = /^[a-z0-9_-]{1,64}$/;

/** Edit distance counting insertions, deletions, substitutions and swaps of neighbours as one edit each. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Catches field names that are typos: a name one edit away from a built-in field, an alias or a
 * declared field (`usr`, `plann`), and not itself declared, is almost always a mistake that would
 * silently count everyone under one `(none)` counter or never match. Returns the name it is near,
 * or undefined when the name is known, declared, or not near any.
 */
export function nearMissOf(path: string, declared: ReadonlySet<string>): string | undefined {
  const name = path.split('.')[0]!.toLowerCase();
  if (declared.has(name) || BUILT_IN.includes(name)) return undefined;
  return [...BUILT_IN, ...declared].find((known) => editDistance(name, known) === 1);
}
