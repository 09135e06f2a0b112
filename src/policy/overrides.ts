/**
 * Limits changed at run time, applied to the rule a call matched: what `tokenlay limits set`, the
 * gateway's `/v1/admin/limits` and `engine.limits.set()` change, and the balances that `credits`
 * limits draw down.
 */
import { readPath } from './paths.js';
import type { MatchContext } from './match.js';
import type { Limit, LimitType, Rule, RulesDocument, WindowName } from './types.js';

/** What an override changes: one limit type of one user, org or plan. */
export interface OverrideLimit {
  type: Exclude<LimitType, 'credits'>;
  max: number;
  window: WindowName;
}

/** What the engine knows of overrides and balances at one moment (a snapshot it refreshes). */
export interface OverrideView {
  /** The override of `type` for `target=value` in `account` (`''` for every account), in force at `now`. */
  find(account: string, target: 'user' | 'org' | 'plan', value: string, type: string, now: number): OverrideLimit | undefined;
  /**
   * The balance of `target=value` a call of `account` draws: its own when it was granted one, else
   * the balance granted for no account (`''`, e.g. `tokenlay credits add` without `--account`),
   * with the USD granted to it so far; undefined when neither was granted.
   */
  balance(account: string, target: 'user' | 'org', value: string): { account: string; granted: number } | undefined;
  /** Whether there is any override or balance at all (a call skips the lookups when not). */
  readonly empty: boolean;
}

/** The id of the rule that carries overrides of a call no rule matched. */
export const OVERRIDE_RULE_ID = 'override';

const TARGETS = ['user', 'org', 'plan'] as const;
const TYPES = ['requests', 'tokens', 'cost', 'concurrent'] as const;

function field(context: MatchContext, name: string): string | undefined {
  const v = readPath(context, name);
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

/**
 * The rule a call counts against once overrides apply: for each limit type with an override of
 * the call's user, org or plan, the rule's limit of that type counted per that field (for a plan:
 * any limit of that type) takes the override's max and window; the user's override wins over the
 * org's, the org's over the plan's. An override whose type the rule does not limit adds a limit
 * of its own, counted per that field (for a plan, all of its users together). A call no rule
 * matched gets a rule of its own, `override`, with the document's default `on_limit_exceeded`.
 * A `credits` limit's max becomes the balance granted to the call's user or org: the account's
 * own, else one granted for no account. An override or balance of one account never applies to
 * another's calls; one of account `''` applies to every account's that has none of its own.
 */
export function withOverrides(rule: Rule | null, context: MatchContext, view: OverrideView | undefined, doc: RulesDocument | undefined, now: number): Rule | null {
  if (!view || view.empty) return rule;
  const account = field(context, 'account') ?? '';
  const values = Object.fromEntries(TARGETS.map((t) => [t, field(context, t)])) as Record<(typeof TARGETS)[number], string | undefined>;
  const lookup = (target: (typeof TARGETS)[number], type: string) => {
    const value = values[target];
    return value === undefined ? undefined : view.find(account, target, value, type, now);
  };
  const limits: Limit[] = [...(rule?.then.limits ?? [])];
  let changed = false;
  for (const type of TYPES) {
    let applied = false;
    const found = TARGETS.map((t) => ({ target: t, o: lookup(t, type) })).filter((f) => f.o !== undefined);
    if (found.length === 0) continue;
    limits.forEach((l, i) => {
      if (l.type !== type) return;
      const hit = found.find((f) => f.target === 'plan' || l.per.includes(f.target));
      if (!hit) return;
      limits[i] = { ...l, max: hit.o!.max, window: type === 'concurrent' ? 'total' : hit.o!.window };
      applied = changed = true;
    });
    if (applied) continue;
    const first = found[0]!;
    limits.push({ type, max: first.o!.max, window: type === 'concurrent' ? 'total' : first.o!.window, per: [first.target] });
    changed = true;
  }
  limits.forEach((l, i) => {
    if (l.type !== 'credits') return;
    const target = l.per[0] as 'user' | 'org';
    const value = values[target];
    const balance = value === undefined ? undefined : view.balance(account, target, value);
    // The counter follows the balance drawn: a balance granted for no account is one balance, whichever account's calls draw it.
    limits[i] = balance === undefined ? { ...l, max: 0 } : { ...l, max: balance.granted, balance_account: balance.account };
    changed = true;
  });
  if (!changed) return rule;
  if (rule) return { ...rule, then: { ...rule.then, limits } };
  const on = doc?.defaults?.on_limit_exceeded;
  return { id: OVERRIDE_RULE_ID, priority: 0, if: {}, then: { limits, ...(on ? { on_limit_exceeded: on } : {}) } };
}
