import { currentScope, resolveScope, runsOf, scopeFieldSources } from '../scope/context.js';
import { formatRunBudgets } from '../protocol/run-budget.js';
import { normalizeFields, WELL_KNOWN_FIELDS, type FieldInput, type FieldRecord } from '../protocol/fields.js';
import { fieldsToHeaders, headersToFields, HEADER_PREFIX } from '../protocol/headers.js';
import { warnOutsideScope } from '../scope/scope-warning.js';
import { PROVIDER_BASE_HEADER, PROVIDER_KEY_HEADER, RUN_BUDGET_HEADER } from '../protocol/names.js';

/** Where a field of a call came from, lowest precedence first. */
export type FieldSource = 'client metadata' | 'scope' | 'identify' | 'call metadata' | 'call headers';

/** The headers of one call with its fields merged in, and, when asked, where each field came from. */
export interface MergedCall {
  /** Every header to send: the call's own non-field headers, then one `x-tokenlay-*` per field. */
  headers: Record<string, string | null | undefined>;
  fields: FieldRecord;
  sources?: Record<string, FieldSource>;
}

const NOT_FIELDS = new Set([PROVIDER_KEY_HEADER, PROVIDER_BASE_HEADER]);
const BARE = new Set<string>(WELL_KNOWN_FIELDS);

/** Header entries of a call, whatever shape they came in (`Headers`, pairs, or an object). */
export function headerEntries(headers: unknown): Array<[string, unknown]> {
  if (!headers) return [];
  if (typeof (headers as Headers).entries === 'function' && typeof (headers as Headers).get === 'function') {
    return [...(headers as Headers).entries()];
  }
  if (Array.isArray(headers)) return headers as Array<[string, unknown]>;
  return Object.entries(headers as Record<string, unknown>);
}

/**
 * @internal The one merge of a call's fields, for `TokenlayOpenAI`, `tokenlayFetch` and
 * `createTokenlayFetch`. Lowest first: client metadata, the request scope (outer to inner, each
 * with its identity), the call's `metadata`, then the call's explicit `x-tokenlay-<field>` and bare
 * `user`/`org`/`plan`/`project`/`feature` headers; an explicit header set to `null` removes the
 * field. Everything is re-encoded and checked, so the limits hold for what is actually sent.
 *
 * @throws {TokenlayHeaderError} when the merged fields cannot be sent.
 */
export function mergeCallFields(
  client: FieldRecord,
  callMetadata: FieldInput | undefined,
  explicit: unknown,
  debug: boolean,
): MergedCall | Promise<MergedCall> {
  const scope = currentScope();
  if (!scope) warnOutsideScope();
  const resolved = resolveScope(scope);
  if (!(resolved instanceof Promise)) return mergeWith(resolved, scope, client, callMetadata, explicit, debug);
  return resolved.then((scoped) => mergeWith(scoped, scope, client, callMetadata, explicit, debug));
}

// A module function, not a closure per call: the build keeps names (keepNames), and a named
// closure costs an Object.defineProperty on every call.
function mergeWith(
  scoped: FieldRecord,
  scope: ReturnType<typeof currentScope>,
  client: FieldRecord,
  callMetadata: FieldInput | undefined,
  explicit: unknown,
  debug: boolean,
): MergedCall {
  const entries = headerEntries(explicit);
  // The common call gives no headers and no metadata: the scope's fresh record is the merge.
  const metadata = callMetadata ? normalizeFields(callMetadata) : NONE;
  let rest: Record<string, string | null | undefined> | undefined;
  let headerFields: FieldRecord = NONE;
  let removed: string[] | undefined;
  if (entries.length > 0) {
    rest = {};
    const given: Record<string, string> = {};
    removed = [];
    for (const [name, value] of entries) {
      const lower = name.toLowerCase();
      const isField = lower.startsWith(HEADER_PREFIX) ? !NOT_FIELDS.has(lower) : BARE.has(lower);
      if (!isField) rest[name] = value as string | null | undefined;
      else if (value === null) removed.push(...Object.keys(headersToFields({ [lower]: 'x' }, { bare: true })));
      else if (value !== undefined) given[lower] = String(value);
    }
    headerFields = headersToFields(given, { bare: true });
  }
  // resolveScope answers a record of its own, so it is merged into in place.
  const fields: FieldRecord = isEmpty(client) ? scoped : Object.assign({}, client, scoped);
  if (metadata !== NONE) Object.assign(fields, metadata);
  if (headerFields !== NONE) Object.assign(fields, headerFields);
  if (removed) for (const name of removed) delete fields[name];
  const encoded = fieldsToHeaders(fields);
  const merged: MergedCall = { headers: rest ? Object.assign(rest, encoded) : encoded, fields };
  if (hasRun(scope)) merged.headers[RUN_BUDGET_HEADER] = formatRunBudgets(runsOf(scope));
  if (debug) merged.sources = sourcesOf(fields, [[client, 'client metadata'], [scopeFieldSources(scope), undefined], [metadata, 'call metadata'], [headerFields, 'call headers']]);
  return merged;
}

const NONE: FieldRecord = Object.freeze({}) as FieldRecord;

function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

function hasRun(scope: ReturnType<typeof currentScope>): boolean {
  for (let s = scope; s; s = s.parent) if (s.run) return true;
  return false;
}

function sourcesOf(
  fields: FieldRecord,
  layers: Array<[Record<string, string | undefined>, FieldSource | undefined]>,
): Record<string, FieldSource> {
  const sources: Record<string, FieldSource> = {};
  for (const [layer, source] of layers) {
    for (const [name, value] of Object.entries(layer)) {
      if (value !== undefined && fields[name] !== undefined) sources[name] = source ?? (value as FieldSource);
    }
  }
  return sources;
}
