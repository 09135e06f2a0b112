import type { PlanPeriod, PlanPrice } from '../policy/plans.js';
import { costUnits, usdOf } from '../store/money.js';
import type { TokenlayStore } from '../store/types.js';

/** Revenue, LLM cost and margin of one user or plan this period, all USD. */
export interface MarginLine {
  revenue: number;
  cost: number;
  /** revenue − cost. */
  margin: number;
}

export interface UserMargin extends MarginLine {
  user: string;
  plan: string;
}

export interface PlanMargin extends MarginLine {
  plan: string;
  price: number;
  period: PlanPeriod;
  /** ms since epoch: the start of the current period. */
  periodStart: number;
  users: number;
}

/** Margins per plan and per user, and the users whose LLM cost exceeds what their plan earns. */
export interface MarginReport {
  plans: PlanMargin[];
  users: UserMargin[];
  unprofitable: UserMargin[];
  /** Users seen this period whose plan is not in `plans:` (their revenue is unknown). */
  unpricedUsers: number;
  /** Every plan together. */
  total: MarginLine & { users: number };
}

/** A margin line from whole 1e-10 USD units, so that sums and differences show no float noise. */
function line(revenue: bigint, cost: bigint): MarginLine {
  return { revenue: usdOf(revenue), cost: usdOf(cost), margin: usdOf(revenue - cost) };
}

const DAY = 86_400_000;

/** Start of the current UTC period (week from Monday). */
export function periodStart(period: PlanPeriod, now: number): number {
  const d = new Date(now);
  const today = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (period === 'day') return today;
  if (period === 'week') return today - ((d.getUTCDay() + 6) % 7) * DAY;
  if (period === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return Date.UTC(d.getUTCFullYear(), 0, 1);
}

/**
 * Sets each user's LLM cost this period against what their plan earns. A user's plan is the
 * `plan` field of their latest call; each user on a plan earns its `price` once per period.
 */
export async function margins(store: TokenlayStore, plans: Record<string, PlanPrice>, scope: Record<string, string>, now: number): Promise<MarginReport> {
  const starts = Object.fromEntries(Object.entries(plans).map(([name, p]) => [name, periodStart(p.period, now)]));
  const since = Math.min(now, ...Object.values(starts));
  const rows = await store.ledger({ since, until: now + 1, fields: scope });
  const planOf = new Map<string, string>();
  for (const row of rows) if (row.fields.user && row.fields.plan) planOf.set(row.fields.user, row.fields.plan);
  const costOf = new Map<string, bigint>();
  const unpriced = new Set<string>();
  for (const row of rows) {
    const user = row.fields.user;
    if (!user) continue;
    const plan = planOf.get(user);
    if (plan === undefined || !Object.hasOwn(plans, plan)) {
      unpriced.add(user);
      continue;
    }
    if (row.time < starts[plan]!) continue;
    costOf.set(user, (costOf.get(user) ?? 0n) + BigInt(costUnits(row.cost)));
  }
  const users: UserMargin[] = [];
  const unitsOf = new Map<UserMargin, { revenue: bigint; cost: bigint }>();
  for (const [user, plan] of planOf) {
    if (!Object.hasOwn(plans, plan)) continue;
    const units = { revenue: BigInt(costUnits(plans[plan]!.price)), cost: costOf.get(user) ?? 0n };
    const margin: UserMargin = { user, plan, ...line(units.revenue, units.cost) };
    unitsOf.set(margin, units);
    users.push(margin);
  }
  users.sort((a, b) => a.margin - b.margin || a.user.localeCompare(b.user));
  const all = { revenue: 0n, cost: 0n };
  const planLines: PlanMargin[] = Object.entries(plans).map(([plan, p]) => {
    const members = users.filter((u) => u.plan === plan);
    const sum = { revenue: 0n, cost: 0n };
    for (const u of members) {
      sum.revenue += unitsOf.get(u)!.revenue;
      sum.cost += unitsOf.get(u)!.cost;
    }
    all.revenue += sum.revenue;
    all.cost += sum.cost;
    return { plan, price: p.price, period: p.period, periodStart: starts[plan]!, users: members.length, ...line(sum.revenue, sum.cost) };
  });
  const unprofitable = users.filter((u) => unitsOf.get(u)!.cost > unitsOf.get(u)!.revenue);
  return { plans: planLines, users, unprofitable, unpricedUsers: unpriced.size, total: { ...line(all.revenue, all.cost), users: users.length } };
}
