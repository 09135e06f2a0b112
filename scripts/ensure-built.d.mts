/** Builds `dist/` (`npm run build`) when it is missing or older than `src/`, `adapters/` or `tsup.config.ts`. */
export function ensureBuilt(options?: { quiet?: boolean }): void;
