/** Medians and spreads over rounds. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** `median (min–max)` with a fixed number of decimals. */
export function spread(values: number[], digits: number): string {
  const f = (n: number) => n.toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

/** Rounds settings from the environment (`npm run bench -- --rounds N --duration S`). */
export function settings(defaults: { rounds: number; durationS: number }): { rounds: number; durationS: number } {
  const rounds = Number(process.env.BENCH_ROUNDS ?? defaults.rounds);
  const durationS = Number(process.env.BENCH_DURATION_S ?? defaults.durationS);
  return { rounds, durationS };
}
