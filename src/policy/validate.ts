import { checkBounds } from './bounds.js';
import { CUSTOM_FIELD_NAME, editDistance, nearMissOf } from './field-names.js';
import { TokenlayRulesError } from './errors.js';
import { numericValue } from './match.js';
import { notifyUrlProblem } from './notify-url.js';
import { canonicalPath } from './paths.js';
import { checkPlans } from './plans.js';
import { MAX_ROLLING_DAYS, MAX_ROLLING_HOURS, parseAnchor, parseRolling } from './windows.js';
import {
  DEFAULT_QUEUE_DELAY_SECONDS,
  DEFAULTS_KEYS,
  DOCUMENT_KEYS,
  LIMIT_ACTIONS,
  LIMIT_KEYS,
  LIMIT_TYPES,
  NOTIFICATION_KEYS,
  NOTIFICATION_TYPES,
  ON_LIMIT_KEYS,
  OPERATORS,
  PATH_PATTERN,
  PRICE_KEYS,
  RULE_ACTIONS,
  RULE_KEYS,
  THEN_KEYS,
  UNKNOWN_MODEL_POLICIES,
  USAGE_METRICS,
  WINDOWS,
} from './schema.js';
import type {
  Condition,
  Limit,
  Notification,
  OnLimitExceeded,
  PriceOverride,
  Rule,
  RuleDefaults,
  RulesDocument,
  RuleThen,
} from './types.js';

type Obj = Record<string, unknown>;

/** Collects problems by path so that one pass reports all of them. */
class Problems {
  readonly list: string[] = [];
  /** Custom field names declared by `fields:` or the app's `customFields`. */
  readonly declared = new Set<string>();
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
}

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (isObject(value)) return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}

function child(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function checkKeys(p: Problems, path: string, value: Obj, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
    p.add(child(path, key), `unknown key${near ? ` (did you mean "${near}"?)` : ''}; expected one of ${known.join(', ')}`);
  }
}

function oneOf<T extends string>(p: Problems, path: string, value: unknown, allowed: readonly T[]): value is T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return true;
  p.add(path, `expected one of ${allowed.join('|')}, got ${show(value)}`);
  return false;
}

function text(p: Problems, path: string, value: unknown): value is string {
  if (typeof value === 'string' && value.length > 0) return true;
  p.add(path, `expected a non-empty string, got ${show(value)}`);
  return false;
}

function positive(p: Problems, path: string, value: unknown, integer = false): value is number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value))) return true;
  p.add(path, `expected a positive ${integer ? 'integer' : 'number'}, got ${show(value)}`);
  return false;
}

function fraction(p: Problems, path: string, value: unknown): value is number {
  if (typeof value === 'number' && value > 0 && value < 1) return true;
  p.add(path, `expected a fraction between 0 and 1 (exclusive), e.g. 0.8, got ${show(value)}`);
  return false;
}

/** `warn_at`: one fraction (kept as it is) or a list of them (kept ascending, without repeats). */
function fractions(p: Problems, path: string, value: unknown): number | number[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    p.add(path, 'expected a fraction between 0 and 1 (exclusive) or a list of them, e.g. [0.5, 0.8, 0.95], got []');
    return undefined;
  }
  let ok = true;
  list.forEach((x, i) => (ok = fraction(p, Array.isArray(value) ? `${path}[${i}]` : path, x) && ok));
  if (!ok) return undefined;
  return Array.isArray(value) ? [...new Set(list as number[])].sort((a, b) => a - b) : (value as number);
}

function plainObject(p: Problems, path: string, value: unknown): value is Obj {
  if (isObject(value)) return true;
  p.add(path, `expected an object, got ${show(value)}`);
  return false;
}

function modelList(p: Problems, path: string, value: unknown): value is string[] {
  if (!Array.isArray(value)) {
    p.add(path, `expected an array of model names, got ${show(value)}`);
    return false;
  }
  let ok = true;
  value.forEach((m, i) => (ok = text(p, `${path}[${i}]`, m) && ok));
  return ok;
}

function isScalar(value: unknown): boolean {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

/** `usage.<metric>` or `usage.<window>.<metric>`. */
function checkUsagePath(p: Problems, path: string, key: string): void {
  const parts = key.split('.');
  const [, a, b] = parts;
  const metric = parts.length === 2 ? a : b;
  const windowOk = parts.length === 2 || (WINDOWS as readonly string[]).includes(a!);
  if (parts.length > 3 || !windowOk || !(USAGE_METRICS as readonly string[]).includes(metric ?? '')) {
    p.add(
      path,
      `unknown usage read-out "${key}"; expected usage.<metric> or usage.<window>.<metric> with metric one of ${USAGE_METRICS.join('|')} and window one of ${WINDOWS.join('|')}`,
    );
  }
}

function checkComparison(p: Problems, path: string, ops: Obj): void {
  if (Object.keys(ops).length === 0) p.add(path, `expected an operator (${OPERATORS.join(', ')}), got an empty object`);
  for (const [op, operand] of Object.entries(ops)) {
    const at = child(path, op);
    switch (op) {
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        if (numericValue(operand) === undefined) p.add(at, `expected a number or a numeric string (gt gte lt lte compare numbers), got ${show(operand)}`);
        break;
      case 'eq':
      case 'neq':
        if (!isScalar(operand)) p.add(at, `expected a string, number, boolean or null, got ${show(operand)}`);
        break;
      case 'in':
      case 'nin':
        if (!Array.isArray(operand)) p.add(at, `expected an array of values, got ${show(operand)}`);
        else operand.forEach((v, i) => isScalar(v) || p.add(`${at}[${i}]`, `expected a string, number, boolean or null, got ${show(v)}`));
        break;
      case 'contains':
        if (!isScalar(operand) || operand === null) p.add(at, `expected a string, number or boolean, got ${show(operand)}`);
        break;
      case 'startsWith':
      case 'endsWith':
        if (typeof operand !== 'string') p.add(at, `expected a string, got ${show(operand)}`);
        break;
      default: {
        const near = OPERATORS.find((k) => editDistance(k.toLowerCase(), op.toLowerCase()) <= 2);
        p.add(at, `unknown operator${near ? ` (did you mean "${near}"?)` : ''}; expected one of ${OPERATORS.join(', ')}`);
      }
    }
  }
}

/** A field name one edit away from a known one is a typo unless declared (see {@link nearMissOf}). */
function checkFieldName(p: Problems, path: string, name: string): void {
  const near = nearMissOf(name, p.declared);
  if (near === undefined) return;
  const own = name.split('.')[0]!.toLowerCase();
  p.add(path, `unknown field "${name}" (did you mean \`${near}\`?). A field of your own must be declared: fields: [${own}] at the top of the rules, or customFields: ['${own}'] in the client.`);
}

function checkCondition(p: Problems, path: string, value: unknown): value is Condition {
  if (!plainObject(p, path, value)) return false;
  for (const [key, entry] of Object.entries(value)) {
    const at = child(path, key);
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(entry) || entry.length === 0) p.add(at, `expected a non-empty array of conditions, got ${show(entry)}`);
      else entry.forEach((c, i) => checkCondition(p, `${at}[${i}]`, c));
    } else if (key === 'not') {
      checkCondition(p, at, entry);
    } else {
      if (!PATH_PATTERN.test(key)) p.add(at, 'expected a field name or a dotted path of [A-Za-z0-9_-] segments');
      else if (key.split('.')[0] === 'usage') checkUsagePath(p, at, key);
      else checkFieldName(p, at, key);
      if (Array.isArray(entry)) p.add(at, `expected a value or an operator object; for a list of values write {in: [...]}`);
      else if (isObject(entry)) checkComparison(p, at, entry);
      else if (!isScalar(entry)) p.add(at, `expected a value or an operator object, got ${show(entry)}`);
    }
  }
  return true;
}

/** The file's spelling of a rolling window written another way (`rolling_24h`, `30d`, `last_30_days`), when it is one the file takes. */
function rollingSpelling(window: unknown): { window: string; says: string } | undefined {
  const m = typeof window === 'string' ? /^(?:rolling|last)?[\s_-]*(\d+)[\s_-]*(h|hrs?|hours?|d|days?)$/i.exec(window.trim()) : null;
  if (!m) return undefined;
  const n = Number(m[1]);
  const hours = m[2]!.toLowerCase().startsWith('h');
  if (n < 1 || n > (hours ? MAX_ROLLING_HOURS : MAX_ROLLING_DAYS)) return undefined;
  const spelled = `last_${n}${hours ? 'h' : 'd'}`;
  return spelled === window ? undefined : { window: spelled, says: `the last ${n} ${hours ? 'hours' : 'days'}` };
}

function checkLimit(p: Problems, path: string, value: unknown, defaults: RuleDefaults | undefined, ruleWarnAt: number | number[] | undefined): Limit | undefined {
  if (!plainObject(p, path, value)) return undefined;
  checkKeys(p, path, value, LIMIT_KEYS);
  const before = p.list.length;
  oneOf(p, child(path, 'type'), value.type, LIMIT_TYPES);
  const credits = value.type === 'credits';
  if (!credits) positive(p, child(path, 'max'), value.max, value.type === 'requests' || value.type === 'concurrent');
  // A concurrency limit counts calls in flight; it has no window of its own. Nor has a balance.
  const window = value.window ?? (value.type === 'concurrent' || credits ? 'total' : undefined);
  if (typeof window !== 'string' || !parseRolling(window)) {
    if (!(WINDOWS as readonly string[]).includes(window as string)) {
      const rolling = `a rolling window last_<n>h (n from 1 to ${MAX_ROLLING_HOURS}) or last_<n>d (n from 1 to ${MAX_ROLLING_DAYS})`;
      const spelled = rollingSpelling(window);
      p.add(child(path, 'window'), typeof window === 'string' && window.startsWith('last_') && !spelled
          ? `expected ${rolling}, got ${show(window)}`
          : `expected one of ${WINDOWS.join('|')}, or ${rolling}${spelled ? `; for ${spelled.says} write ${spelled.window}` : ''}, got ${show(window)}`);
    }
  }
  if (credits) checkCredits(p, path, value, window);
  let per: string[] = [];
  if (typeof value.per === 'string') per = [value.per];
  else if (Array.isArray(value.per) && value.per.length > 0 && value.per.every((x) => typeof x === 'string')) per = value.per as string[];
  else p.add(child(path, 'per'), `expected a field name (user, org, plan, project, feature, …) or a non-empty list of them, got ${show(value.per)}`);
  per.forEach((name, i) => {
    const at = Array.isArray(value.per) ? `${child(path, 'per')}[${i}]` : child(path, 'per');
    if (!PATH_PATTERN.test(name)) p.add(at, `expected a field name or dotted path, got ${show(name)}`);
    else checkFieldName(p, at, name);
  });
  if (value.tracking_key !== undefined) {
    if (typeof value.tracking_key !== 'string' || !PATH_PATTERN.test(value.tracking_key)) {
      p.add(child(path, 'tracking_key'), `expected a field name or dotted path, got ${show(value.tracking_key)}`);
    } else if (per.length > 1) {
      p.add(child(path, 'tracking_key'), 'only allowed when per names a single field');
    } else {
      checkFieldName(p, child(path, 'tracking_key'), value.tracking_key);
    }
  }
  const ownWarnAt = value.warn_at === undefined ? undefined : fractions(p, child(path, 'warn_at'), value.warn_at);
  if (value.billing_anchor !== undefined) checkAnchor(p, child(path, 'billing_anchor'), value.billing_anchor, window);
  if (p.list.length > before) return undefined;
  const limit: Limit = {
    type: value.type as Limit['type'],
    // A balance's max is what was granted, read at each call.
    max: credits ? 0 : (value.max as number),
    window: window as Limit['window'],
    per: per.map(canonicalPath),
  };
  if (value.tracking_key !== undefined) limit.tracking_key = canonicalPath(value.tracking_key as string);
  const warnAt = ownWarnAt ?? ruleWarnAt ?? defaults?.warn_at;
  if (warnAt !== undefined) limit.warn_at = Array.isArray(warnAt) ? [...warnAt] : warnAt;
  if (value.billing_anchor !== undefined) limit.billing_anchor = anchorText(value.billing_anchor);
  return limit;
}

/** A limit's `billing_anchor`: a real `YYYY-MM-DD` date, or a field name carrying each user's date; month and year windows only. */
function checkAnchor(p: Problems, path: string, value: unknown, window: unknown): void {
  if (window !== 'month' && window !== 'year') {
    p.add(path, `only a month or year window starts on a billing date, and this limit's window is ${show(window)}; use window: month or window: year`);
    return;
  }
  if (value instanceof Date || (typeof value === 'string' && /^\d{4}-/.test(value))) {
    if (!parseAnchor(value)) p.add(path, `expected a date YYYY-MM-DD (e.g. 2026-11-17) or the name of a field carrying each user's date, got ${show(value)}`);
    return;
  }
  if (typeof value !== 'string' || !PATH_PATTERN.test(value)) {
    p.add(path, `expected a date YYYY-MM-DD (e.g. 2026-11-17) or the name of a field carrying each user's date, got ${show(value)}`);
    return;
  }
  checkFieldName(p, path, value);
}

/** The anchor as the engine keeps it: a date as `YYYY-MM-DD`, a field as its canonical name. */
function anchorText(value: unknown): string {
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  const text = value as string;
  return /^\d{4}-/.test(text) ? text : canonicalPath(text);
}

/** A `credits` limit draws one balance per user or org, granted at run time: no max, no window. */
function checkCredits(p: Problems, path: string, value: Obj, window: unknown): void {
  if (value.max !== undefined) p.add(child(path, 'max'), 'a credits limit has no max: its balance is what was granted (tokenlay credits add --user alice --usd 10); remove max');
  if (window !== 'total') p.add(child(path, 'window'), `a credits limit draws a balance down and never resets; remove window (got ${show(window)})`);
  const per = typeof value.per === 'string' ? [value.per] : value.per;
  if (!Array.isArray(per) || per.length !== 1 || (per[0] !== 'user' && per[0] !== 'org')) {
    p.add(child(path, 'per'), `a credits limit draws the balance of one user or one org: per: user or per: org (got ${show(value.per)})`);
  }
}

function checkNotification(p: Problems, path: string, value: unknown): Notification | undefined {
  if (!plainObject(p, path, value)) return undefined;
  checkKeys(p, path, value, NOTIFICATION_KEYS);
  oneOf(p, child(path, 'type'), value.type, NOTIFICATION_TYPES);
  for (const key of ['url', 'email', 'channel'] as const) {
    if (value[key] !== undefined) text(p, child(path, key), value[key]);
  }
  if (value.payload !== undefined) plainObject(p, child(path, 'payload'), value.payload);
  // Alerts are posted by the engine: a URL it cannot post to fails at load, not at the first alert.
  if ((value.type === 'webhook' || value.type === 'slack') && typeof value.url === 'string' && value.url.length > 0) {
    const problem = notifyUrlProblem(value.url);
    if (problem) p.add(child(path, 'url'), problem);
  }
  if (value.type === 'webhook' && value.url === undefined) p.add(child(path, 'url'), 'required for a webhook: the https URL to post alerts to');
  return { ...value } as unknown as Notification;
}

function checkOnLimit(p: Problems, path: string, value: unknown): OnLimitExceeded | undefined {
  if (!plainObject(p, path, value)) return undefined;
  checkKeys(p, path, value, ON_LIMIT_KEYS);
  const before = p.list.length;
  oneOf(p, child(path, 'action'), value.action, LIMIT_ACTIONS);
  if (value.action === 'downgrade' && value.downgrade_to === undefined) {
    p.add(child(path, 'downgrade_to'), 'required when action is downgrade: name the model to answer from');
  }
  if (value.downgrade_to !== undefined) text(p, child(path, 'downgrade_to'), value.downgrade_to);
  if (value.delay_seconds !== undefined) positive(p, child(path, 'delay_seconds'), value.delay_seconds);
  if (value.retry_after_seconds !== undefined) positive(p, child(path, 'retry_after_seconds'), value.retry_after_seconds);
  if (value.error_code !== undefined) text(p, child(path, 'error_code'), value.error_code);
  if (value.error_message !== undefined) text(p, child(path, 'error_message'), value.error_message);
  const warnAt = value.warn_at === undefined ? undefined : fractions(p, child(path, 'warn_at'), value.warn_at);
  if (value.http_status !== undefined) {
    const s = value.http_status;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 100 || s > 599) {
      p.add(child(path, 'http_status'), `expected an integer HTTP status from 100 to 599, got ${show(s)}`);
    }
  }
  const notify: Notification[] = [];
  if (value.notify !== undefined) {
    if (!Array.isArray(value.notify)) p.add(child(path, 'notify'), `expected an array, got ${show(value.notify)}`);
    else value.notify.forEach((n, i) => {
      const ok = checkNotification(p, `${child(path, 'notify')}[${i}]`, n);
      if (ok) notify.push(ok);
    });
  }
  if (p.list.length > before) return undefined;
  const out = { ...value } as unknown as OnLimitExceeded;
  if (value.notify !== undefined) out.notify = notify;
  if (out.action === 'queue' && out.delay_seconds === undefined) out.delay_seconds = DEFAULT_QUEUE_DELAY_SECONDS;
  if (warnAt) out.warn_at = warnAt;
  return out;
}

function checkThen(p: Problems, path: string, value: unknown, defaults: RuleDefaults | undefined): RuleThen | undefined {
  if (!plainObject(p, path, value)) return undefined;
  checkKeys(p, path, value, THEN_KEYS);
  const then: RuleThen = {};
  if (value.model !== undefined && text(p, child(path, 'model'), value.model)) then.model = value.model;
  if (value.model_params !== undefined && plainObject(p, child(path, 'model_params'), value.model_params)) {
    if ('model' in value.model_params) p.add(child(child(path, 'model_params'), 'model'), 'set the model with then.model, not in model_params');
    then.model_params = { ...value.model_params };
  }
  if (value.action !== undefined && oneOf(p, child(path, 'action'), value.action, RULE_ACTIONS)) then.action = value.action;
  if (value.priority_modifier !== undefined) {
    if (typeof value.priority_modifier !== 'number' || !Number.isFinite(value.priority_modifier)) {
      p.add(child(path, 'priority_modifier'), `expected a number, got ${show(value.priority_modifier)}`);
    } else then.priority_modifier = value.priority_modifier;
  }
  if (value.on_limit_exceeded !== undefined) {
    const on = checkOnLimit(p, child(path, 'on_limit_exceeded'), value.on_limit_exceeded);
    if (on) then.on_limit_exceeded = on;
  } else if (defaults?.on_limit_exceeded) {
    then.on_limit_exceeded = { ...defaults.on_limit_exceeded };
  }
  if (value.limits !== undefined) {
    if (!Array.isArray(value.limits)) p.add(child(path, 'limits'), `expected an array of limits, got ${show(value.limits)}`);
    else {
      const warnAt = value.on_limit_exceeded !== undefined ? then.on_limit_exceeded?.warn_at : undefined;
      then.limits = [];
      value.limits.forEach((l, i) => {
        const limit = checkLimit(p, `${child(path, 'limits')}[${i}]`, l, defaults, warnAt);
        if (limit) then.limits!.push(limit);
      });
    }
  }
  if (value.fallbacks !== undefined) {
    if (modelList(p, child(path, 'fallbacks'), value.fallbacks)) then.fallbacks = [...value.fallbacks];
  } else if (defaults?.fallbacks) {
    then.fallbacks = [...defaults.fallbacks];
  }
  if (value.custom_fields !== undefined && plainObject(p, child(path, 'custom_fields'), value.custom_fields)) {
    then.custom_fields = { ...value.custom_fields };
  }
  return then;
}

function checkPrices(p: Problems, path: string, value: unknown): Record<string, PriceOverride> | undefined {
  if (!plainObject(p, path, value)) return undefined;
  const out: Record<string, PriceOverride> = {};
  for (const [model, price] of Object.entries(value)) {
    const at = child(path, model);
    if (!plainObject(p, at, price)) continue;
    checkKeys(p, at, price, PRICE_KEYS);
    let ok = true;
    for (const key of PRICE_KEYS) {
      const v = price[key];
      if (v === undefined && key === 'cached_input') continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        p.add(child(at, key), `expected a price in USD per million tokens (a number >= 0), got ${show(v)}`);
        ok = false;
      }
    }
    if (ok) out[model] = { ...price } as unknown as PriceOverride;
  }
  return out;
}

function checkDefaults(p: Problems, path: string, value: unknown): RuleDefaults | undefined {
  if (!plainObject(p, path, value)) return undefined;
  checkKeys(p, path, value, DEFAULTS_KEYS);
  const out: RuleDefaults = {};
  if (value.on_limit_exceeded !== undefined) {
    const on = checkOnLimit(p, child(path, 'on_limit_exceeded'), value.on_limit_exceeded);
    if (on) out.on_limit_exceeded = on;
  }
  if (value.fallbacks !== undefined && modelList(p, child(path, 'fallbacks'), value.fallbacks)) out.fallbacks = [...value.fallbacks];
  if (value.warn_at !== undefined) {
    const warnAt = fractions(p, child(path, 'warn_at'), value.warn_at);
    if (warnAt) out.warn_at = warnAt;
  }
  return out;
}

/** Options of {@link validateRules}. */
export interface ValidateOptions {
  /** Custom field names the app sends (the client's `customFields`), as if listed under `fields:`. */
  customFields?: readonly string[];
}

function checkDeclaredFields(p: Problems, value: unknown): string[] | undefined {
  if (!Array.isArray(value)) {
    p.add('fields', `expected a list of your own field names, e.g. [team, region], got ${show(value)}`);
    return undefined;
  }
  const names: string[] = [];
  value.forEach((name, i) => {
    if (typeof name === 'string' && CUSTOM_FIELD_NAME.test(name.toLowerCase())) names.push(name.toLowerCase());
    else p.add(`fields[${i}]`, `expected a field name of [a-z0-9_-], at most 64 characters, got ${show(name)}`);
  });
  return names;
}

/**
 * Checks a rules document and returns it with defaults filled in: rule ids (`rule-<index>`),
 * priority 0, `per` as a list of canonical field names, `defaults` applied to each rule, and
 * `delay_seconds` 30 for a queue. Every problem is collected before anything is returned.
 *
 * A field name in a condition, `per` or `tracking_key` that is one edit away from a known field
 * or alias, and not declared under `fields:` or in `options.customFields`, is refused with
 * "did you mean `user`?".
 *
 * @param source names the file (or `"rules object"`) in the error.
 * @throws {TokenlayRulesError} listing every problem by path; nothing of a refused document applies.
 */
export function validateRules(input: unknown, source = 'rules object', options: ValidateOptions = {}): RulesDocument {
  const p = new Problems();
  if (!isObject(input)) {
    throw new TokenlayRulesError(source, [`(document): expected an object with "version" and "rules", got ${show(input)}`]);
  }
  // Before anything recurses into it: a hostile depth must not overflow the stack.
  checkBounds(input, source);
  checkKeys(p, '(document)', input, DOCUMENT_KEYS);
  const doc: RulesDocument = { version: '0.1', rules: [], source };
  for (const name of options.customFields ?? []) p.declared.add(name.toLowerCase());
  if (input.fields !== undefined) {
    const fields = checkDeclaredFields(p, input.fields);
    if (fields) {
      doc.fields = fields;
      for (const name of fields) p.declared.add(name);
    }
  }
  if (input.version !== undefined) {
    if (typeof input.version === 'string' || typeof input.version === 'number') doc.version = String(input.version);
    else p.add('version', `expected a string such as "0.1", got ${show(input.version)}`);
  }
  let defaults: RuleDefaults | undefined;
  if (input.defaults !== undefined) {
    defaults = checkDefaults(p, 'defaults', input.defaults);
    if (defaults) doc.defaults = defaults;
  }
  if (input.prices !== undefined) {
    const prices = checkPrices(p, 'prices', input.prices);
    if (prices) doc.prices = prices;
  }
  if (input.unknown_models !== undefined && oneOf(p, 'unknown_models', input.unknown_models, UNKNOWN_MODEL_POLICIES)) {
    doc.unknown_models = input.unknown_models;
  }
  if (input.metadata !== undefined && plainObject(p, 'metadata', input.metadata)) doc.metadata = { ...input.metadata };
  if (input.plans !== undefined) {
    const plans = checkPlans((path, message) => p.add(path, message), input.plans);
    if (plans) doc.plans = plans;
  }

  if (!Array.isArray(input.rules)) {
    p.add('rules', `expected an array of rules, got ${show(input.rules)}`);
  } else {
    const seen = new Map<string, number>();
    input.rules.forEach((raw, i) => {
      const path = `rules[${i}]`;
      if (!plainObject(p, path, raw)) return;
      checkKeys(p, path, raw, RULE_KEYS);
      let id = `rule-${i}`;
      if (raw.id !== undefined && text(p, child(path, 'id'), raw.id)) id = raw.id;
      const first = seen.get(id);
      if (first !== undefined) p.add(child(path, 'id'), `duplicate id "${id}" (also rules[${first}]); ids key the usage counters, so each must be unique`);
      else seen.set(id, i);
      if (raw.description !== undefined && typeof raw.description !== 'string') {
        p.add(child(path, 'description'), `expected a string, got ${show(raw.description)}`);
      }
      let priority = 0;
      if (raw.priority !== undefined) {
        if (typeof raw.priority === 'number' && Number.isFinite(raw.priority)) priority = raw.priority;
        else p.add(child(path, 'priority'), `expected a number (higher runs first), got ${show(raw.priority)}`);
      }
      if (raw.if === undefined) p.add(child(path, 'if'), 'required: a condition, or {} to match every call');
      else checkCondition(p, child(path, 'if'), raw.if);
      if (raw.then === undefined) p.add(child(path, 'then'), 'required: what the rule does (model, action, limits, …)');
      const then = raw.then === undefined ? undefined : checkThen(p, child(path, 'then'), raw.then, defaults);
      if (!then) return;
      const rule: Rule = { id, priority, if: structuredClone(raw.if as Condition), then };
      if (typeof raw.description === 'string') rule.description = raw.description;
      doc.rules.push(rule);
    });
  }
  if (p.list.length > 0) throw new TokenlayRulesError(source, p.list);
  return doc;
}
