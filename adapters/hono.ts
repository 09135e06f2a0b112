import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { runWithScope, type TokenlayUsage } from '../src/context.js';
import { firstPrincipal } from '../src/identity.js';
import { finisher, requestScopes, type TokenlayMiddlewareOptions } from '../src/request-scope.js';
import { scopeResponse } from '../src/scoped-body.js';

/** The variables `tokenlay()` sets: `c.get('tokenlay')` is the request's roll-up. */
export interface TokenlayHonoVariables {
  tokenlay: TokenlayUsage;
}

/** Options of the Hono middleware. */
export type TokenlayHonoOptions<C extends Context = Context> = TokenlayMiddlewareOptions<C>;

/** hono/jwt's `c.get('jwtPayload')`, then `c.get('user')` (the usual place for a session user). */
export function honoIdentity(c: Context) {
  return firstPrincipal(c.get('jwtPayload'), c.get('user'));
}

// @hono/node-server's own `Response` keeps a string or byte body as it is (under a symbol named
// 'cache') and writes it in one go; such a body runs no code when read, and wrapping it would cost
// the server that fast path. Any other body, or another runtime, is wrapped.
function isInertBody(res: Response): boolean {
  for (const key of Object.getOwnPropertySymbols(res)) {
    if (key.description !== 'cache') continue;
    const body = (res as any)[key]?.[1];
    return body === null || typeof body === 'string' || body instanceof Uint8Array;
  }
  return false;
}

interface NodeBindings {
  outgoing?: ServerResponse;
}

/**
 * Hono 4 middleware: every LLM call made while serving the request carries its authenticated user,
 * org and plan. Mount it anywhere, before or after hono/jwt; identity is read when a call is made.
 * The scope covers the handler, `streamSSE`/`stream` callbacks, and a streamed body while the server
 * reads it; it ends with the request. The request's roll-up is `c.get('tokenlay')`.
 *
 * ```ts
 * app.use('*', tokenlay());
 * app.use('*', tokenlay({ identify: (c) => ({ user: c.get('session').userId }), onFinish: (usage) => log(usage) }));
 * ```
 */
export function tokenlay<C extends Context = Context>(
  options: TokenlayHonoOptions<C> = {},
): MiddlewareHandler<{ Variables: TokenlayHonoVariables }> {
  const openScope = requestScopes(options, honoIdentity as TokenlayHonoOptions<C>['identify'] & {});
  return async function tokenlayMiddleware(c, next) {
    // Mounted twice (app and sub-app): the first scope stays.
    if (c.get('tokenlay')) return next();
    const ctx = c as unknown as C;
    const scope = openScope(ctx, c.req.raw.headers);
    c.set('tokenlay', scope.usage);
    const finish = finisher(options, scope, ctx);
    // On @hono/node-server the request is finished when its response is, as with Express; elsewhere
    // when the body has been read or cancelled.
    const outgoing = (c.env as NodeBindings | undefined)?.outgoing;
    if (outgoing && options.onFinish) {
      outgoing.once('finish', finish);
      outgoing.once('close', finish);
    }
    try {
      await runWithScope(scope, next);
    } catch (err) {
      finish();
      throw err;
    }
    if (isInertBody(c.res)) {
      if (!outgoing) finish();
      return;
    }
    // The server reads the body after this middleware has returned, outside the scope: a lazy body
    // (a `pull`, `ReadableStream.from(generator)`) must still make its calls in it.
    const scoped = scopeResponse(c.res, scope, outgoing ? undefined : finish);
    // Replaced, not merged into the old one: it already carries every header.
    c.res = undefined;
    c.res = scoped;
  };
}

export default tokenlay;
