/** The vocabulary of the rules format: every name a rules document may use, in one place. */

export const LIMIT_TYPES = ['requests', 'tokens', 'cost', 'concurrent', 'credits'] as const;
export const WINDOWS = ['minute', 'hour', 'day', 'month', 'year', 'total'] as const;
export const RULE_ACTIONS = ['allow', 'block', 'warn', 'queue'] as const;
export const LIMIT_ACTIONS = ['block', 'downgrade', 'warn', 'queue'] as const;
export const UNKNOWN_MODEL_POLICIES = ['zero', 'refuse'] as const;
export const NOTIFICATION_TYPES = ['webhook', 'email', 'slack'] as const;

/** Comparison operators a condition value may use. */
export const OPERATORS = [
  'gt',
  'gte',
  'lt',
  'lte',
  'eq',
  'neq',
  'in',
  'nin',
  'contains',
  'startsWith',
  'endsWith',
] as const;

/** Metrics a condition may read as `usage.<metric>` or `usage.<window>.<metric>`. */
export const USAGE_METRICS = ['requests', 'tokens', 'cost', 'concurrent'] as const;

export const DOCUMENT_KEYS = ['version', 'fields', 'rules', 'prices', 'unknown_models', 'defaults', 'metadata', 'plans'] as const;
export const RULE_KEYS = ['id', 'description', 'priority', 'if', 'then'] as const;
export const THEN_KEYS = [
  'model',
  'model_params',
  'action',
  'priority_modifier',
  'limits',
  'on_limit_exceeded',
  'fallbacks',
  'custom_fields',
] as const;
export const LIMIT_KEYS = ['type', 'max', 'window', 'per', 'tracking_key', 'warn_at', 'billing_anchor'] as const;
export const ON_LIMIT_KEYS = [
  'action',
  'downgrade_to',
  'delay_seconds',
  'retry_after_seconds',
  'notify',
  'error_code',
  'error_message',
  'http_status',
  'warn_at',
] as const;
export const DEFAULTS_KEYS = ['on_limit_exceeded', 'fallbacks', 'warn_at'] as const;
export const PRICE_KEYS = ['input', 'output', 'cached_input'] as const;
export const NOTIFICATION_KEYS = ['type', 'url', 'email', 'channel', 'payload'] as const;

/** How long a queued call waits when `delay_seconds` is not given. */
export const DEFAULT_QUEUE_DELAY_SECONDS = 30;

/** A field name or a dotted path into the call's context. */
export const PATH_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
