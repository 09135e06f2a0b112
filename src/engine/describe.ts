import type { ResolvedLimit } from '../policy/limits.js';

function unit(type: string, max: number): string {
  if (type === 'cost') return `$${max}`;
  if (type === 'credits') return `$${max} of credits`;
  if (type === 'concurrent') return `${max} concurrent calls`;
  return `${max} ${type}`;
}

function perText(l: ResolvedLimit): string {
  if (l.limit.type === 'concurrent') return `per ${l.limit.per.join(' and ')}`;
  const rolling = /^last_(\d+)(h|d)$/.exec(l.limit.window);
  const every =
    l.limit.window === 'total' ? 'in total' : rolling ? `in the last ${rolling[1]} ${rolling[2] === 'h' ? 'hours' : 'days'}` : `per ${l.limit.window}`;
  return `${every} per ${l.limit.per.join(' and ')}`;
}

/** Describes a limit for humans, e.g. `$50 per month per user (user=alice: 50.02 used)`. */
export function describeLimit(l: ResolvedLimit, current: number): string {
  const usd = current.toFixed(4).replace(/\.?0+$/, '');
  const shown = l.limit.type === 'cost' ? usd : l.limit.type === 'credits' ? `$${usd}` : String(current);
  return `${unit(l.limit.type, l.limit.max)} ${perText(l)} (${l.scope}: ${shown} ${l.limit.type === 'concurrent' ? 'in flight' : 'used'})`;
}
