/**
 * The gateway's admin API: `GET|PUT|DELETE /v1/admin/limits` and `GET|POST /v1/admin/credits`,
 * for admin keys only (`tokenlay keys create --admin`), each on its own account's overrides and
 * balances.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine/types.js';
import { TokenlayOverrideInputError } from '../engine/override-input.js';
import { changeJson, overrideJson } from '../engine/limits-api.js';
import { readBody } from './body.js';
import { sendError, sendJson } from './errors.js';

/** Paths of the admin API. */
export const ADMIN_LIMITS_PATH = '/v1/admin/limits';
export const ADMIN_CREDITS_PATH = '/v1/admin/credits';

/** Bodies of admin calls are small: a limit or a grant. */
const ADMIN_MAX_BODY = 16 * 1024;

/** Whether a path is the admin API's. */
export function isAdminPath(path: string): boolean {
  return path === ADMIN_LIMITS_PATH || path === ADMIN_CREDITS_PATH || path.startsWith('/v1/admin/');
}

export interface AdminRequest {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  /** The query string without `?`. */
  query: string;
  account: string;
  /** Whether the key is an admin key. */
  admin: boolean;
  engine: Engine;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
}

function problem(res: ServerResponse, status: number, code: string, message: string, param: string | null = null): void {
  sendError(res, status, { message, type: 'invalid_request_error', code, param });
}

async function jsonBody(a: AdminRequest): Promise<Record<string, unknown> | undefined> {
  const read = await readBody(a.req, { maxBytes: ADMIN_MAX_BODY, bodyTimeoutMs: a.bodyTimeoutMs, idleTimeoutMs: a.idleTimeoutMs });
  if (!read.ok) {
    problem(a.res, read.status, read.status === 413 ? 'request_too_large' : 'request_timeout', `tokenlay: the admin request body must be JSON of at most ${ADMIN_MAX_BODY} bytes, sent at once.`);
    return undefined;
  }
  const text = read.bytes?.toString('utf8') ?? '';
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    problem(a.res, 400, 'invalid_json', `tokenlay: the request body is not valid JSON; send e.g. {"user": "alice", "type": "cost", "max": 50, "window": "month"}.`);
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problem(a.res, 400, 'invalid_json', 'tokenlay: the request body must be a JSON object, e.g. {"user": "alice", "type": "cost", "max": 50, "window": "month"}.');
    return undefined;
  }
  return value as Record<string, unknown>;
}

/** Query parameters of a DELETE or GET as an object (`?user=alice&type=cost`). */
function queryObject(query: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(query));
}

/**
 * Answers one admin call. A key that is not an admin key gets 403 `admin_key_required`; bad
 * input 400 with the field in `param`; an unknown admin path or method 404 or 405.
 */
export async function answerAdmin(a: AdminRequest): Promise<void> {
  const { res, path, account } = a;
  const method = a.req.method ?? 'GET';
  if (!a.admin) {
    return sendError(res, 403, {
      message: `tokenlay: the tokenlay key of account "${account}" is not an admin key; ${path} needs one. Create one with: npx tokenlay keys create --name NAME --admin`,
      type: 'permission_error',
      code: 'admin_key_required',
      param: null,
    });
  }
  const { limits, credits } = a.engine.forAccount(account);
  const by = `key:${account}`;
  try {
    if (path === ADMIN_LIMITS_PATH) {
      if (method === 'GET') return sendJson(res, 200, { object: 'list', data: (await limits.list()).map(overrideJson), changes: (await limits.audit({ limit: 100 })).map(changeJson) });
      if (method === 'PUT') {
        const body = await jsonBody(a);
        if (!body) return;
        return sendJson(res, 200, { limit: overrideJson(await limits.set({ ...body, by } as never)) });
      }
      if (method === 'DELETE') {
        const input = { ...queryObject(a.query), ...((await jsonBody(a)) ?? {}) };
        if (res.headersSent) return;
        const cleared = await limits.clear({ ...input, by } as never);
        if (!cleared) return problem(res, 404, 'override_not_found', `tokenlay: no override of ${JSON.stringify(input.type)} for that target in account "${account}"; see GET ${ADMIN_LIMITS_PATH}.`);
        return sendJson(res, 200, { cleared: true });
      }
      return problem(res, 405, 'method_not_allowed', `tokenlay: ${method} ${path} is not an admin call; use GET, PUT or DELETE.`);
    }
    if (path === ADMIN_CREDITS_PATH) {
      if (method === 'GET') {
        const q = queryObject(a.query);
        if (q.user !== undefined || q.org !== undefined || q.plan !== undefined) return sendJson(res, 200, { balance: await credits.balance(q) });
        return sendJson(res, 200, { object: 'list', data: await credits.list() });
      }
      if (method === 'POST') {
        const body = await jsonBody(a);
        if (!body) return;
        return sendJson(res, 200, { balance: await credits.add({ ...body, by } as never) });
      }
      return problem(res, 405, 'method_not_allowed', `tokenlay: ${method} ${path} is not an admin call; use GET or POST.`);
    }
    return problem(res, 404, 'not_found', `tokenlay: no admin endpoint ${method} ${path}; the admin API is ${ADMIN_LIMITS_PATH} (GET, PUT, DELETE) and ${ADMIN_CREDITS_PATH} (GET, POST).`);
  } catch (error) {
    if (error instanceof TokenlayOverrideInputError) return problem(res, 400, 'invalid_override', error.message, error.field);
    throw error;
  }
}
