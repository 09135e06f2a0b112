import { TokenlayRulesError } from './errors.js';

/** Largest rules file read, in bytes (1 MiB). */
export const MAX_RULES_FILE_BYTES = 1024 * 1024;
/** Deepest nesting of objects and arrays in a rules document. */
export const MAX_RULES_DEPTH = 64;
/** Most rules in one document. */
export const MAX_RULES = 10_000;
/** Most YAML aliases expanded in one file: anchors are for sharing a block, not for multiplying it. */
export const MAX_YAML_ALIASES = 100;

function step(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? name : /^[A-Za-z_]/.test(name) ? `${path}.${name}` : `${path}[${name}]`;
}

/**
 * Refuses a document that no rules author writes and that would cost the engine: nesting deeper
 * than {@link MAX_RULES_DEPTH} (walked without recursion, so a hostile depth cannot overflow the
 * stack) or more than {@link MAX_RULES} rules. The problem is named by its path.
 *
 * @throws {TokenlayRulesError}
 */
export function checkBounds(input: unknown, source: string): void {
  const rules = (input as { rules?: unknown } | null)?.rules;
  if (Array.isArray(rules) && rules.length > MAX_RULES) {
    throw new TokenlayRulesError(source, [`rules: ${rules.length} rules; at most ${MAX_RULES} are allowed. Merge rules that share a condition, or key limits with per instead of one rule per user.`]);
  }
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: input, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_RULES_DEPTH) {
      const shown = path.length > 120 ? `${path.slice(0, 120)}…` : path;
      throw new TokenlayRulesError(source, [
        `${shown}: nested deeper than ${MAX_RULES_DEPTH} levels. Flatten it: list conditions under one and/or instead of nesting them.`,
      ]);
    }
    const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    for (const [key, child] of entries) stack.push({ value: child, path: step(path, key), depth: depth + 1 });
  }
}
