import type { IncomingMessage, ServerResponse } from 'node:http';
import { bindHttpListeners } from '../src/bind-emitter.js';
import { currentScope, runWithScope } from '../src/context.js';
import { firstPrincipal } from '../src/identity.js';
import { limitAnswer } from '../src/limit-answer.js';
import { finisher, openedBy, requestScopes, type TokenlayMiddlewareOptions } from '../src/request-scope.js';

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
    const current = currentScope();
    let outer: typeof current;
    if (current?.owner === req) {
      // The same middleware mounted twice (app and router) adds nothing; another one is an inner layer.
      if (openedBy(current, req, openScope)) return next();
      outer = current;
    }
    const scope = openScope(req, req.headers, outer);
    if (res.locals) res.locals.tokenlay = scope.usage;
    if (options.onFinish) {
      const finish = finisher(options, scope, req);
      res.once('finish', finish);
      res.once('close', finish);
    }
    runWithScope(scope, next);
  };
}

/**
 * Express error middleware: answers a `TokenlayLimitError` that a route let through as the
 * OpenAI-style JSON error with its status (429 or the rule's), `retry-after` and rule headers, so
 * a route needs no try/catch. Any other error goes on to the next error handler. Mount it after
 * your routes; `app.use(tokenlayErrorHandler)` and `app.use(tokenlayErrorHandler())` both work.
 *
 * ```ts
 * app.post('/chat', async (req, res) => res.json(await openai.chat.completions.create(body)));
 * app.use(tokenlayErrorHandler());
 * ```
 */
export function tokenlayErrorHandler(): typeof tokenlayErrorHandler;
export function tokenlayErrorHandler(err: unknown, req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
// Four declared parameters: Express tells error middleware by its arity.
export function tokenlayErrorHandler(err?: unknown, _req?: IncomingMessage, res?: ServerResponse, next?: (err?: unknown) => void): unknown {
  if (arguments.length === 0) return tokenlayErrorHandler;
  const answer = limitAnswer(err);
  if (!answer || !res || res.headersSent) return next?.(err);
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

export default tokenlay;
