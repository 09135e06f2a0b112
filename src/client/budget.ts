/**
 * `getTokenlayBudget()`: what the request scope's user has left of each limit that applies, read
 * where the limits are kept: the embedded engine's store, or the proxy's `GET /v1/budget`.
 */
import { TokenlayConfigError, TokenlayError, TokenlayScopeError } from '../errors.js';
import { fieldsToHeaders } from '../protocol/headers.js';
import { RUN_BUDGET_HEADER } from '../protocol/names.js';
import { formatRunBudgets, type RunBudget } from '../protocol/run-budget.js';
import type { FieldRecord } from '../protocol/fields.js';
import { currentScope, runsOf } from '../scope/context.js';
import { mergeCallFields } from './call-fields.js';
import type { BudgetLimit } from '../engine/budget.js';

export type { BudgetLimit };

/** @internal Reads a user's budget for one client's connection. */
export interface BudgetSource {
  /** The client's own fields (metadata), merged under the scope's as on a call. */
  fields: FieldRecord;
  read(fields: FieldRecord, runs: RunBudget[]): Promise<BudgetLimit[]>;
}

const kBudget = Symbol.for('tokenlay.budgetSource');
let latest: BudgetSource | undefined;

/** @internal Makes `source` the budget of `client` and the default of `getTokenlayBudget()` (the last client made wins). */
export function registerBudgetSource(client: object, source: BudgetSource): void {
  Object.defineProperty(client, kBudget, { value: source, configurable: true });
  latest = source;
}

/** Options of {@link getTokenlayBudget}. */
export interface GetBudgetOptions {
  /**
   * The `TokenlayOpenAI` or `createTokenlayFetch` fetch whose proxy or engine keeps the limits.
   * Default: the last one the app created (most apps make one).
   */
  client?: object;
}

/** @internal The answer of `GET /v1/budget`, snake_case on the wire, as {@link BudgetLimit}s. */
export function budgetFromWire(body: unknown): BudgetLimit[] {
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) throw new TokenlayError('tokenlay: GET /v1/budget answered without a data list; is the proxy a tokenlay gateway of this version or later?');
  return data.map((raw: Record<string, unknown>) => ({
    ruleId: (raw.rule_id as string | null) ?? null,
    type: String(raw.type),
    ...(raw.metric !== undefined ? { metric: String(raw.metric) } : {}),
    window: String(raw.window),
    max: Number(raw.max),
    used: Number(raw.used),
    remaining: Number(raw.remaining),
    resetsAt: (raw.resets_at as string | null) ?? null,
  }));
}

/** @internal The remote source: `GET <proxy>/v1/budget` with the tokenlay key and the call's fields and runs as headers. */
export function remoteBudget(url: string, key: string | undefined, send: typeof fetch): BudgetSource['read'] {
  return async (fields, runs) => {
    const headers: Record<string, string> = { ...fieldsToHeaders(fields), authorization: `Bearer ${key ?? ''}` };
    if (runs.length > 0) headers[RUN_BUDGET_HEADER] = formatRunBudgets(runs);
    const response = await send(`${url}/budget`, { headers });
    const text = await response.text();
    if (!response.ok) {
      let message = text.slice(0, 300);
      try {
        message = JSON.parse(text)?.error?.message ?? message;
      } catch {
        // not JSON: the text itself says it
      }
      throw new TokenlayError(`tokenlay: GET ${url}/budget answered ${response.status}: ${message}`);
    }
    return budgetFromWire(JSON.parse(text));
  };
}

/**
 * What the request scope's user has left of each limit that applies, to show them ("$0.42 left
 * this month") without a second store: `[{ ruleId, type, window, max, used, remaining, resetsAt }]`,
 * cost in USD, `resetsAt` an ISO 8601 time or null. The limits are those of the rule a call with
 * the scope's fields (and no model) matches, then the budgets of the runs the scope is in
 * (`type: 'run'`). Embedded mode reads the engine's store; remote mode asks the proxy's
 * `GET /v1/budget` with the scope's fields, as a call would send them.
 *
 * @throws {TokenlayScopeError} outside a request scope.
 * @throws {TokenlayConfigError} when no `TokenlayOpenAI` or `createTokenlayFetch` was created.
 * @throws {TokenlayError} when the proxy answers an error; the store's error when it cannot be read.
 */
export async function getTokenlayBudget(options: GetBudgetOptions = {}): Promise<BudgetLimit[]> {
  const scope = currentScope();
  if (!scope) {
    throw new TokenlayScopeError(
      'tokenlay: getTokenlayBudget() was called outside a request scope, so there is no user to read the budget of. Call it in a route behind app.use(tokenlay()), or inside runWithTokenlay({ user }, fn).',
    );
  }
  const source = (options.client as Record<symbol, BudgetSource | undefined> | undefined)?.[kBudget] ?? (options.client ? undefined : latest);
  if (!source) {
    throw new TokenlayConfigError(
      options.client
        ? 'tokenlay: getTokenlayBudget({ client }) was given an object that is not a TokenlayOpenAI or a createTokenlayFetch fetch. Pass the client whose proxy or engine keeps the limits.'
        : 'tokenlay: getTokenlayBudget() found no tokenlay client. Create a TokenlayOpenAI (or createTokenlayFetch) first: the budget is read where its calls are counted.',
    );
  }
  const { fields } = await mergeCallFields(source.fields, undefined, undefined, false);
  return source.read(fields, runsOf(scope));
}
