/**
 * Builds `dist/` (`npm run build`) when it is missing or older than `src/`, `adapters/` or
 * `tsup.config.ts`; with `declarations`, also when its type declarations are.
 */
export function ensureBuilt(options?: { quiet?: boolean; declarations?: boolean }): void;
