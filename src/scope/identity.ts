import type { FieldInput } from '../protocol/fields.js';

const USER_KEYS = ['id', 'sub', 'userId', 'user_id', '_id', 'username'] as const;
const ORG_KEYS = ['org', 'orgId', 'org_id', 'organization', 'organizationId', 'tenant', 'tenantId'] as const;
const PLAN_KEYS = ['plan', 'tier', 'subscription'] as const;
// When an org or plan is an object (`{ id, name }`), these name it.
const NESTED_KEYS = ['id', '_id', 'slug', 'name', 'plan', 'tier'] as const;

function scalar(value: unknown, depth = 0): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value !== 'object' || depth > 1) return undefined;
  // Mongo ObjectIds and similar id objects print themselves.
  const object = value as { toHexString?: unknown } & Record<string, unknown>;
  if (typeof object.toHexString === 'function') return object.toHexString();
  for (const key of NESTED_KEYS) {
    const nested = scalar(object[key], depth + 1);
    if (nested !== undefined) return nested;
  }
  return undefined;
}

function firstOf(source: object, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = scalar((source as Record<string, unknown>)[key]);
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * Reads `user`, `org` and `plan` from an authenticated principal: a passport `req.user`, a JWT
 * payload, a session user. The id comes from `id`, `sub`, `userId`, `user_id`, `_id` or
 * `username`; the org from `org`, `orgId`, `org_id`, `organization`, `organizationId`, `tenant`
 * or `tenantId`; the plan from `plan`, `tier` or `subscription`. Org and plan are read even when
 * no id key is there. `undefined` when none of the three is found.
 */
export function fieldsFromPrincipal(principal: unknown): FieldInput | undefined {
  if (!principal || typeof principal !== 'object') return undefined;
  const user = firstOf(principal, USER_KEYS);
  const org = firstOf(principal, ORG_KEYS);
  const plan = firstOf(principal, PLAN_KEYS);
  if (user === undefined && org === undefined && plan === undefined) return undefined;
  return { user, org, plan };
}

/** The first principal in `candidates` that names a user, else the first that names an org or plan. */
export function firstPrincipal(...candidates: unknown[]): FieldInput | undefined {
  let partial: FieldInput | undefined;
  for (const candidate of candidates) {
    const fields = fieldsFromPrincipal(candidate);
    if (fields?.user !== undefined) return fields;
    partial ??= fields;
  }
  return partial;
}
