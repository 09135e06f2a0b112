import { HEADER_PREFIX, PROVIDER_BASE_HEADER, PROVIDER_KEY_HEADER, REPORT_HEADERS, RUN_BUDGET_HEADER } from './names.js';

/**
 * The attribution fields a call carries. Extend it by declaration merging to type your own fields:
 *
 * ```ts
 * declare module 'tokenlay' {
 *   interface TokenlayFields { team?: string }
 * }
 * ```
 */
export interface TokenlayFields {
  /** The authenticated user who caused the call. */
  user?: string;
  /** The user's organization or tenant. */
  org?: string;
  /** The user's plan or tier (`tier` is an alias). */
  plan?: string;
  /** The project the call is made for. */
  project?: string;
  /** The product feature that made the call. */
  feature?: string;
}

/** A set of fields as a plain record: the typed ones plus any custom field. */
export type FieldRecord = TokenlayFields & Record<string, string | undefined>;

/** Values a caller may hand us for a field; numbers and ids are turned into strings. */
export type FieldInput = { [K in keyof TokenlayFields]?: TokenlayFields[K] | number | null } & Record<
  string,
  string | number | null | undefined
>;

/** The five fields every proxy knows by name. */
export const WELL_KNOWN_FIELDS = ['user', 'org', 'plan', 'project', 'feature'] as const;

/** Alias → canonical field name (PROTOCOL.md §1). */
export const FIELD_ALIASES: Readonly<Record<string, string>> = {
  userid: 'user',
  user_id: 'user',
  'user-id': 'user',
  orgid: 'org',
  org_id: 'org',
  organization: 'org',
  organization_id: 'org',
  tier: 'plan',
  projectid: 'project',
  project_id: 'project',
};

const FIELD_NAME = /^[a-z0-9_-]{1,64}$/;

/** Header names under `x-tokenlay-` that are not attribution fields. */
export const RESERVED_NAMES = new Set(
  [PROVIDER_KEY_HEADER, PROVIDER_BASE_HEADER, RUN_BUDGET_HEADER, ...Object.values(REPORT_HEADERS)].map((header) => header.slice(HEADER_PREFIX.length)),
);

/** The canonical name of a field (`tier` → `plan`, `user_id` → `user`), lower-cased. */
export function canonicalField(name: string): string {
  const lower = name.toLowerCase();
  // `hasOwn`: a field named `constructor` must not find Object.prototype's.
  return Object.hasOwn(FIELD_ALIASES, lower) ? FIELD_ALIASES[lower]! : lower;
}

/** Whether `name` may be used as a field name on the wire. */
export function isValidFieldName(name: string): boolean {
  return FIELD_NAME.test(name) && !RESERVED_NAMES.has(name);
}

/**
 * Folds aliases into canonical names and drops empty values. A canonical name given
 * explicitly wins over its alias in the same object.
 */
export function normalizeFields(input: FieldInput | undefined | null): FieldRecord {
  const out: FieldRecord = {};
  if (!input) return out;
  // Runs on every request that reads its identity: no Set, no entries array, unless aliases appear.
  const names = Object.keys(input);
  let aliased = false;
  for (let i = 0; i < names.length; i++) {
    const rawName = names[i]!;
    const rawValue = input[rawName];
    if (rawValue === undefined || rawValue === null || rawValue === '') continue;
    const lower = rawName.toLowerCase();
    if (Object.hasOwn(FIELD_ALIASES, lower)) aliased = true;
    else out[lower] = String(rawValue);
  }
  if (!aliased) return out;
  // Aliases fill only what was not given by its canonical name; among aliases, the last wins.
  const explicit = new Set(Object.keys(out));
  for (let i = 0; i < names.length; i++) {
    const rawName = names[i]!;
    const rawValue = input[rawName];
    if (rawValue === undefined || rawValue === null || rawValue === '') continue;
    const lower = rawName.toLowerCase();
    if (!Object.hasOwn(FIELD_ALIASES, lower)) continue;
    const name = FIELD_ALIASES[lower]!;
    if (!explicit.has(name)) out[name] = String(rawValue);
  }
  return out;
}
