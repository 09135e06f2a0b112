import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { bindHttpListeners } from '../src/scope/bind-emitter.js';
import { currentScope, runWithScope, type Scope, type TokenlayUsage } from '../src/scope/context.js';
import { firstPrincipal } from '../src/scope/identity.js';
import { limitAnswer } from '../src/protocol/limit-answer.js';
import { finisher, outerScope, requestScopes, type TokenlayMiddlewareOptions } from '../src/scope/request-scope.js';
import { scopeNodeReadable, scopeResponse, scopeWebStream } from '../src/scope/scoped-body.js';

/** The parts of a Koa context the middleware reads; no Koa types needed, Koa 2 and 3 alike. */
export interface KoaLikeContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** koa-jwt and koa-passport put the user in `ctx.state.user`; the roll-up goes in `ctx.state.tokenlay`. */
  state: any;
  body?: unknown;
  status?: number;
  set?(field: Record<string, string>): void;
}

/** What `ctx.state` holds once `tokenlay()` has run; add it to your app's state type. */
export interface TokenlayKoaState {
  /** The roll-up of every LLM call made while serving this request. */
  tokenlay: TokenlayUsage;
}

/** Options of the Koa middleware. */
export type TokenlayKoaOptions<Ctx extends KoaLikeContext = KoaLikeContext> = TokenlayMiddlewareOptions<Ctx>;


/** koa-jwt's and koa-passport's `ctx.state.user`. */
export function koaIdentity(ctx: KoaLikeContext) {
  return firstPrincipal(ctx.state?.user);
}

function isNodeReadable(body: unknown): body is Readable {
  return !!body && typeof (body as Readable).pipe === 'function' && typeof (body as Readable)._read === 'function';
}

// Koa writes `ctx.body` after every middleware has returned, from outside the scope: a body that
// produces its data lazily must do so in the request's scope.
function scopeBody(ctx: KoaLikeContext, scope: Scope): void {
  const body = ctx.body;
  if (isNodeReadable(body)) scopeNodeReadable(body, scope);
  else if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream && !body.locked) {
    ctx.body = scopeWebStream(body, scope); // Koa 3
  } else if (typeof Response !== 'undefined' && body instanceof Response) {
    ctx.body = scopeResponse(body, scope); // Koa 3
  }
}

/**
 * Koa 2/3 middleware: every LLM call made while serving the request carries its authenticated
 * user, org and plan. Mount it anywhere, before or after koa-jwt, body parsers and routers;
 * identity is read when a call is made. The scope covers the middleware after it, the code they
 * run after `await next()`, and a streamed `ctx.body` while Koa writes it. The request's roll-up is
 * `ctx.state.tokenlay`.
 *
 * ```ts
 * app.use(tokenlay());
 * app.use(tokenlay({ identify: (ctx) => ({ user: ctx.session.userId }), onFinish: (usage) => log(usage) }));
 * ```
 */
export function tokenlay<Ctx extends KoaLikeContext = KoaLikeContext>(options: TokenlayKoaOptions<Ctx> = {}) {
  // The streams' events come from the socket, outside the scope: a callback-style body reader,
  // or work started when the response has finished, must still run in it.
  bindHttpListeners();
  const openScope = requestScopes(options, koaIdentity as TokenlayKoaOptions<Ctx>['identify'] & {});
  // Not an async function: it returns the promise of the rest of the chain with one `then`, as
  // bare `als.run(store, next)` does, instead of an async function's own promise and await.
  return function tokenlayMiddleware(ctx: Ctx, next: () => Promise<unknown>): Promise<unknown> {
    // The same middleware mounted twice (app and router) adds nothing; another one is an inner layer.
    const outer = outerScope(currentScope(), ctx, openScope);
    if (outer === null) return next();
    const scope = openScope(ctx, ctx.req.headers, outer);
    ctx.state.tokenlay = scope.usage;
    if (options.onFinish) {
      const finish = finisher(options, scope, ctx);
      ctx.res.once('finish', finish);
      ctx.res.once('close', finish);
    }
    let ran: Promise<unknown>;
    try {
      ran = runWithScope(scope, next);
    } catch (error) {
      scopeBody(ctx, scope);
      return Promise.reject(error);
    }
    // The body is scoped once the rest of the chain has run, whether it resolved or threw.
    return ran.then(
      () => scopeBody(ctx, scope),
      (error: unknown) => {
        scopeBody(ctx, scope);
        throw error;
      },
    );
  };
}

type KoaNext = () => Promise<unknown>;

/**
 * Koa middleware that answers a `TokenlayLimitError` thrown further down as the OpenAI-style JSON
 * error with its status (429 or the rule's), `retry-after` and rule headers, so a route needs no
 * try/catch; any other error is rethrown. Mount it before your routes;
 * `app.use(tokenlayErrorHandler)` and `app.use(tokenlayErrorHandler())` both work.
 */
export function tokenlayErrorHandler(): typeof tokenlayErrorHandler;
export function tokenlayErrorHandler(ctx: KoaLikeContext, next: KoaNext): Promise<void>;
export function tokenlayErrorHandler(ctx?: KoaLikeContext, next?: KoaNext): unknown {
  if (!ctx || !next) return tokenlayErrorHandler;
  return next().then(
    () => undefined,
    (err: unknown) => {
      const answer = limitAnswer(err);
      if (!answer) throw err;
      ctx.status = answer.status;
      ctx.set?.(answer.headers);
      // A string body would make Koa answer text/html or text/plain: set the type after it.
      ctx.body = answer.body;
      ctx.set?.({ 'content-type': answer.headers['content-type'] });
    },
  );
}

export default tokenlay;
