/**
 * The `plans:` extension of the rules format: what each plan earns, so that usage can be set
 * against revenue (margins). It is ours, not part of `@tokenlay/rules` 0.1; the engine ignores it.
 *
 * ```yaml
 * plans:
 *   pro: { price: 20, period: month }   # USD a user pays each period
 *   free: { price: 0 }
 * ```
 *
 * `markup` (optional, a factor > 0, default 1) multiplies a call's cost when it is billed
 * (`tokenlay billing push`): `pro: { price: 20, markup: 1.3 }` bills $1.30 for each $1 of LLM cost.
 */

/** How often a plan is paid for; its margin is counted over the current one (UTC). */
export const PLAN_PERIODS = ['day', 'week', 'month', 'year'] as const;
export type PlanPeriod = (typeof PLAN_PERIODS)[number];
export const PLAN_KEYS = ['price', 'period', 'markup'] as const;

/** One plan: what a user on it pays, in USD, each `period` (default `month`). */
export interface PlanPrice {
  price: number;
  period: PlanPeriod;
  /** What a call's cost is multiplied by when it is billed (`tokenlay billing push`); absent: 1. */
  markup?: number;
}

type Report = (path: string, message: string) => void;

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return JSON.stringify(value);
}

/**
 * Checks a `plans:` section, reporting each problem by path, and returns it with `period`
 * defaulted to `month`; undefined when it is not an object.
 */
export function checkPlans(report: Report, value: unknown): Record<string, PlanPrice> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    report('plans', `expected an object of plan name to { price, period }, e.g. { pro: { price: 20, period: month } }, got ${shown(value)}`);
    return undefined;
  }
  const out: Record<string, PlanPrice> = {};
  for (const [name, plan] of Object.entries(value as Record<string, unknown>)) {
    const at = `plans[${JSON.stringify(name)}]`;
    if (typeof plan !== 'object' || plan === null || Array.isArray(plan)) {
      report(at, `expected { price, period } (price in USD), got ${shown(plan)}`);
      continue;
    }
    const p = plan as Record<string, unknown>;
    let ok = true;
    for (const key of Object.keys(p)) {
      if (!(PLAN_KEYS as readonly string[]).includes(key)) {
        report(`${at}.${key}`, `unknown key; expected one of ${PLAN_KEYS.join(', ')}`);
        ok = false;
      }
    }
    if (typeof p.price !== 'number' || !Number.isFinite(p.price) || p.price < 0) {
      report(`${at}.price`, `expected what a user on the plan pays, in USD (a number >= 0), got ${shown(p.price)}`);
      ok = false;
    }
    const period = p.period ?? 'month';
    if (!(PLAN_PERIODS as readonly unknown[]).includes(period)) {
      report(`${at}.period`, `expected one of ${PLAN_PERIODS.join('|')}, got ${shown(period)}`);
      ok = false;
    }
    if (p.markup !== undefined && (typeof p.markup !== 'number' || !Number.isFinite(p.markup) || p.markup <= 0)) {
      report(`${at}.markup`, `expected what a call's cost is multiplied by when billed (a number > 0, e.g. 1.3 for 30 % on top), got ${shown(p.markup)}`);
      ok = false;
    }
    if (ok) out[name] = { price: p.price as number, period: period as PlanPeriod, ...(p.markup === undefined ? {} : { markup: p.markup as number }) };
  }
  return out;
}
