import type { IncomingMessage, ServerResponse } from 'node:http';
import { bindHttpListeners } from '../src/bind-emitter.js';
import { currentScope, runWithScope } from '../src/context.js';
import { firstPrincipal } from '../src/identity.js';
import { finisher, requestScopes, type TokenlayMiddlewareOptions } from '../src/request-scope.js';

/** The parts of an Express (or Connect) request the adapter reads; no Express types needed. */
export interface ExpressLikeRequest extends IncomingMessage {
  /** Set by passport. */
  user?: unknown;
  /** Set by express-jwt (the payload) or express-oauth2-jwt-bearer (`{ payload }`). */
  auth?: any;
}

/** Options of the Express middleware. */
export type TokenlayExpressOptions<Req extends ExpressLikeRequest = ExpressLikeRequest> = TokenlayMiddlewareOptions<Req>;

/** passport's `req.user`, express-jwt's `req.auth`, or express-oauth2-jwt-bearer's `req.auth.payload`. */
export function expressIdentity(req: ExpressLikeRequest) {
  return firstPrincipal(req.user, req.auth?.payload, req.auth);
}

/**
 * Express 4/5 and Connect middleware: every LLM call made while serving the request carries its
 * authenticated user, org and plan. Mount it anywhere, before or after auth and body parsers;
 * identity is read when a call is made. The request's roll-up is `res.locals.tokenlay`.
 *
 * ```ts
 * app.use(tokenlay());
 * app.use(tokenlay({ identify: (req) => ({ user: req.session.userId }), onFinish: (usage) => log(usage) }));
 * ```
 */
export function tokenlay<Req extends ExpressLikeRequest = ExpressLikeRequest>(options: TokenlayExpressOptions<Req> = {}) {
  // Body parsers and multipart continue the chain from the request stream's own events.
  bindHttpListeners();
  const openScope = requestScopes(options, expressIdentity as TokenlayMiddlewareOptions<Req>['identify'] & {});
  return function tokenlayMiddleware(req: Req, res: ServerResponse & { locals?: Record<string, unknown> }, next: (err?: unknown) => void): void {
    // Mounted twice (app and router): the first scope stays.
    if (currentScope()?.owner === req) return next();
    const scope = openScope(req, req.headers);
    if (res.locals) res.locals.tokenlay = scope.usage;
    if (options.onFinish) {
      const finish = finisher(options, scope, req);
      res.once('finish', finish);
      res.once('close', finish);
    }
    runWithScope(scope, next);
  };
}

export default tokenlay;
