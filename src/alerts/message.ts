import type { Notification } from '../policy/types.js';

/** What happened to a counter: it crossed its `warn_at` threshold, or its limit blocked a call. */
export interface AlertEvent {
  kind: 'threshold_crossed' | 'limit_blocked';
  ruleId: string;
  /** Who is counted: `user=alice`. */
  scope: string;
  limit: { type: string; max: number; window: string; warnAt: number | null };
  /** The counter's usage when the alert fired (USD for cost). */
  used: number;
  /** Window start and reset, ms since epoch (reset null for `total`). */
  windowStart: number;
  resetsAt: number | null;
  /** ms since epoch. */
  time: number;
}

function amount(type: string, v: number): string {
  return type === 'cost' ? `$${Number(v.toFixed(6))}` : `${v} ${type}`;
}

/** One line a person reads. */
export function alertText(e: AlertEvent): string {
  const pct = Math.floor((e.used / e.limit.max) * 100);
  const what = `${amount(e.limit.type, e.used)} of ${amount(e.limit.type, e.limit.max)} per ${e.limit.window} (${pct}%)`;
  const resets = e.resetsAt === null ? '' : `; the window resets at ${new Date(e.resetsAt).toISOString()}`;
  return e.kind === 'limit_blocked'
    ? `tokenlay: ${e.scope} is blocked by rule "${e.ruleId}": ${what}${resets}`
    : `tokenlay: ${e.scope} crossed ${Math.round((e.limit.warnAt ?? 0) * 100)}% of a limit of rule "${e.ruleId}": ${what}${resets}`;
}

/**
 * The JSON body of an alert. Slack (type `slack`, or a `hooks.slack.com` URL) gets `{ text }`;
 * any other webhook gets the event itself, with the notification's `payload` merged in.
 */
export function alertBody(n: Notification, e: AlertEvent): Record<string, unknown> {
  const slack = n.type === 'slack' || (n.url !== undefined && new URL(n.url).hostname === 'hooks.slack.com');
  if (slack) return { text: alertText(e), ...(n.channel ? { channel: n.channel } : {}) };
  return {
    ...(n.payload ?? {}),
    event: e.kind === 'limit_blocked' ? 'tokenlay.limit.blocked' : 'tokenlay.limit.threshold_crossed',
    text: alertText(e),
    rule_id: e.ruleId,
    scope: e.scope,
    limit: { type: e.limit.type, max: e.limit.max, window: e.limit.window, warn_at: e.limit.warnAt },
    used: e.used,
    fraction: e.used / e.limit.max,
    window_start: new Date(e.windowStart).toISOString(),
    resets_at: e.resetsAt === null ? null : new Date(e.resetsAt).toISOString(),
    time: new Date(e.time).toISOString(),
  };
}
