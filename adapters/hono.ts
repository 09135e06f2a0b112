import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { currentScope, runWithScope, type TokenlayUsage } from '../src/scope/context.js';
import { firstPrincipal } from '../src/scope/identity.js';
import { limitAnswer } from '../src/protocol/limit-answer.js';
import { finisher, outerScope, requestScopes, type TokenlayMiddlewareOptions } from '../src/scope/request-scope.js';
import { scopeResponse } from '../src/scope/scoped-body.js';

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
    const body = (res as unknown as Record<symbol, unknown[] | undefined>)[key]?.[1];
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
    const ctx = c as unknown as C;
    let outer: ReturnType<typeof currentScope>;
    // Only after a `tokenlay()` ran for this context is a scope looked up: the first costs no lookup.
    if (c.get('tokenlay')) {
      // The same middleware mounted twice (app and sub-app) adds nothing; another one is an inner
      // layer. A context that has a roll-up but not the current scope is left as it is.
      const found = outerScope(currentScope(), ctx, openScope);
      if (!found) return next();
      outer = found;
    }
    // Only trusted headers are read from the request: on @hono/node-server, `c.req.raw.headers`
    // builds a whole Request and Headers from the incoming message.
    const scope = openScope(ctx, options.trustHeaders ? c.req.raw.headers : undefined, outer);
    if (!outer) c.set('tokenlay', scope.usage);
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

/**
 * Hono error handler: answers a `TokenlayLimitError` as the OpenAI-style JSON error with its
 * status (429 or the rule's), `retry-after` and rule headers, so a route needs no try/catch. An
 * `HTTPException` answers its own response; any other error is logged and answered 500, as Hono
 * does by default. `app.onError(tokenlayErrorHandler)` and `app.onError(tokenlayErrorHandler())` both work.
 */
export function tokenlayErrorHandler(): typeof tokenlayErrorHandler;
export function tokenlayErrorHandler(err: Error, c: Context): Response;
export function tokenlayErrorHandler(err?: Error, _c?: Context): unknown {
  if (arguments.length === 0) return tokenlayErrorHandler;
  const answer = limitAnswer(err);
  if (answer) return new Response(answer.body, { status: answer.status, headers: answer.headers });
  if (typeof (err as { getResponse?: unknown })?.getResponse === 'function') return (err as unknown as { getResponse(): Response }).getResponse();
  console.error(err);
  return new Response('Internal Server Error', { status: 500 });
}

export default tokenlay;
