import { USAGE_METRICS, WINDOWS } from './schema.js';
import type { Condition, LimitType, RulesDocument, WindowName } from './types.js';

/**
 * One usage read-out that conditions use: `usage.cost` is the month's cost, `usage.day.tokens`
 * the day's tokens. See {@link usageReadouts}.
 */
export interface UsageReadout {
  window: WindowName;
  metric: Exclude<LimitType, 'credits'>;
}

/** The window `usage.<metric>` reads when the path names none. */
export const DEFAULT_USAGE_WINDOW: WindowName = 'month';

function parse(path: string): UsageReadout | undefined {
  const parts = path.split('.');
  if (parts[0]?.toLowerCase() !== 'usage') return undefined;
  const window = (parts.length === 3 ? parts[1] : DEFAULT_USAGE_WINDOW) as WindowName;
  const metric = parts[parts.length - 1] as Exclude<LimitType, 'credits'>;
  if (parts.length < 2 || parts.length > 3) return undefined;
  if (!(WINDOWS as readonly string[]).includes(window) || !(USAGE_METRICS as readonly string[]).includes(metric)) return undefined;
  return { window, metric };
}

function collect(condition: Condition, out: Map<string, UsageReadout>): void {
  for (const [key, entry] of Object.entries(condition)) {
    if (key === 'and' || key === 'or') (entry as Condition[]).forEach((c) => collect(c, out));
    else if (key === 'not') collect(entry as Condition, out);
    else {
      const r = parse(key);
      if (r) out.set(`${r.window}.${r.metric}`, r);
    }
  }
}

/**
 * The usage read-outs a document's conditions use, each once. A read-out is the calling
 * user's own usage (the `user` field; anonymous calls share `(none)`), across all rules and
 * models, in the current UTC window: settled requests, tokens or cost, or for `concurrent` the
 * user's calls in flight. Only read-outs that some rule names are counted, so a read-out starts
 * from zero when a document first names it.
 */
export function usageReadouts(doc: RulesDocument): UsageReadout[] {
  const out = new Map<string, UsageReadout>();
  for (const rule of doc.rules) collect(rule.if, out);
  return [...out.values()];
}

/** Builds the `usage` object of a match context: `{ cost, day: { cost } }`. */
export function usageObject(values: Array<{ readout: UsageReadout; value: number }>): Record<string, unknown> {
  const usage: Record<string, unknown> = {};
  for (const { readout, value } of values) {
    if (readout.window === DEFAULT_USAGE_WINDOW) usage[readout.metric] = value;
    const byWindow = (usage[readout.window] ??= {}) as Record<string, number>;
    byWindow[readout.metric] = value;
  }
  return usage;
}
