import type { IncomingMessage, ServerResponse } from 'node:http';
import { bindHttpListeners } from '../src/scope/bind-emitter.js';
import { currentScope, runWithScope } from '../src/scope/context.js';
import { firstPrincipal } from '../src/scope/identity.js';
import { limitAnswer } from '../src/protocol/limit-answer.js';
import { finisher, outerScope, requestScopes, type TokenlayMiddlewareOptions } from '../src/scope/request-scope.js';

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
    // The same middleware mounted twice (app and router) adds nothing; another one is an inner layer.
    const outer = outerScope(currentScope(), req, openScope);
    if (outer === null) return next();
    const scope = openScope(req, req.headers, outer);
    if (res.locals) res.locals.tokenlay = scope.usage;
    if (options.onFinish) {
      const finish = finisher(options, scope, req);
      res.once('finish', finish);
      res.once('close', finish);
    }
    passBlocksOnExpress4(req);
    runWithScope(scope, next);
  };
}

/** Marks an Express 4 `Layer.prototype` as already passing rejected blocks on. */
const kPassesBlocks = Symbol.for('tokenlay.express4PassesBlocks');

interface Express4Layer {
  handle: (...args: unknown[]) => unknown;
  handle_request: (req: unknown, res: unknown, next: (err?: unknown) => void) => void;
  [kPassesBlocks]?: true;
}

/**
 * Express 4's router ignores what a handler returns, so a block rejected by an `async` route
 * became an unhandled rejection and the process exited (Express 5 passes a rejection to `next`).
 * Express 4's layers (`handle_request`; Express 5's router names it `handleRequest`) learn to pass
 * a rejected promise's block to `next`, so it reaches `tokenlayErrorHandler` and a route needs no
 * try/catch there either. Any other rejection is left exactly as Express 4 leaves it: the app's
 * errors are not ours to reroute.
 */
function passBlocksOnExpress4(req: IncomingMessage): void {
  const stack = ((req as { app?: unknown }).app as { _router?: { stack?: unknown[] } } | undefined)?._router?.stack;
  const layer = stack?.[0] as Express4Layer | undefined;
  const proto = layer ? (Object.getPrototypeOf(layer) as Express4Layer) : undefined;
  if (!proto || typeof proto.handle_request !== 'function' || proto[kPassesBlocks]) return;
  const original = proto.handle_request;
  proto.handle_request = function handle(this: Express4Layer, req, res, next) {
    const fn = this.handle;
    // Error middleware (four parameters) is skipped by the original, as before.
    if (fn.length > 3) return original.call(this, req, res, next);
    let returned: unknown;
    try {
      returned = fn(req, res, next);
    } catch (err) {
      return next(err);
    }
    if (returned && typeof (returned as PromiseLike<unknown>).then === 'function') {
      Promise.resolve(returned).catch((err: unknown) => {
        if (limitAnswer(err)) return next(err);
        throw err;
      });
    }
  };
  proto[kPassesBlocks] = true;
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
