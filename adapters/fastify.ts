import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { currentScope, runWithScope, type Scope, type TokenlayUsage } from '../src/scope/context.js';
import { firstPrincipal } from '../src/scope/identity.js';
import { limitAnswer } from '../src/protocol/limit-answer.js';
import { finisher, openedBy, requestScopes, type TokenlayMiddlewareOptions } from '../src/scope/request-scope.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The roll-up of every LLM call made while serving this request (set by `tokenlay`). */
    tokenlay: TokenlayUsage | null;
  }
}

/** Options of the Fastify plugin, given to `app.register(tokenlay, options)`. */
export type TokenlayFastifyOptions<Req extends FastifyRequest = FastifyRequest> = TokenlayMiddlewareOptions<Req>;

const kScope = Symbol.for('tokenlay.fastify.scope');
type Scoped = FastifyRequest & { [kScope]?: Scope };
type Done = (err?: Error) => void;

/** @fastify/jwt's and @fastify/passport's `request.user`. */
export function fastifyIdentity(request: FastifyRequest) {
  return firstPrincipal((request as { user?: unknown }).user);
}

// A hook that calls `done` from outside the request (a callback from a shared queue or pool, a
// body parser that loses the context) hands the rest of the pipeline to that outside context.
// Each later phase therefore re-enters the scope: calling `done` inside it runs the hooks after
// ours, and finally the handler, in the scope.
// Most hooks call `done` in the scope already: checking costs less than entering it again.
function reenter(request: FastifyRequest, _reply: FastifyReply, done: Done): void {
  const scope = (request as Scoped)[kScope];
  if (scope === currentScope()) done();
  else runWithScope(scope, done);
}

/**
 * Fastify 4/5 plugin: every LLM call made while serving a request carries its authenticated user,
 * org and plan. Registered on the root instance, it applies to the whole app, the routes of
 * encapsulated child plugins included (like a `fastify-plugin`); before or after auth, since
 * identity is read when a call is made. The scope survives every hook, body parsing and multipart,
 * through the handler. The request's roll-up is `request.tokenlay`.
 *
 * ```ts
 * await app.register(tokenlay);
 * await app.register(tokenlay, { identify: (request) => ({ user: request.session.userId }) });
 * ```
 */
export function tokenlay(fastify: FastifyInstance, options: TokenlayFastifyOptions, done: Done): void {
  // Registered twice: the request decorator exists once, and the first hook's scope stays.
  if (!fastify.hasRequestDecorator('tokenlay')) fastify.decorateRequest('tokenlay', null);

  const openScope = requestScopes(options, fastifyIdentity);
  fastify.addHook('onRequest', function tokenlayOnRequest(request, reply, next) {
    // Registered twice on the same path: added once. In a child plugin: an inner layer of the root's.
    // Not `outerScope`: the scope rides on the request itself and nests whatever its owner; with
    // the shared rule (which drops another owner's scope) Fastify 4's keep-alive test fails.
    const outer = (request as Scoped)[kScope];
    if (outer && openedBy(outer, request, openScope)) return next();
    const scope = openScope(request, request.headers, outer);
    (request as Scoped)[kScope] = scope;
    request.tokenlay = scope.usage;
    if (options.onFinish) {
      const finish = finisher(options, scope, request);
      reply.raw.once('finish', finish);
      reply.raw.once('close', finish);
    }
    runWithScope(scope, next);
  });
  fastify.addHook('preValidation', function tokenlayPreValidation(request, reply, next) {
    reenter(request, reply, next);
  });
  fastify.addHook('preHandler', function tokenlayPreHandler(request, reply, next) {
    reenter(request, reply, next);
  });
  done();
}
tokenlay satisfies FastifyPluginCallback<TokenlayFastifyOptions>;

// What fastify-plugin would set, without loading it: no encapsulation (the hooks apply to the
// whole app), a name for `hasPlugin` and `dependencies`, and a name in logs.
Object.assign(tokenlay, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'tokenlay',
  [Symbol.for('plugin-meta')]: { name: 'tokenlay', fastify: '4.x || 5.x' },
});

/**
 * Fastify error handler: answers a `TokenlayLimitError` as the OpenAI-style JSON error with its
 * status (429 or the rule's), `retry-after` and rule headers, so a route needs no try/catch; any
 * other error goes to the parent (or default) error handler.
 * `app.setErrorHandler(tokenlayErrorHandler)` and `app.setErrorHandler(tokenlayErrorHandler())` both work.
 */
export function tokenlayErrorHandler(): typeof tokenlayErrorHandler;
export function tokenlayErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): unknown;
export function tokenlayErrorHandler(error?: unknown, _request?: FastifyRequest, reply?: FastifyReply): unknown {
  if (arguments.length === 0) return tokenlayErrorHandler;
  const answer = limitAnswer(error);
  // `reply.send(error)` from an error handler hands the error to the parent handler.
  if (!answer) return reply!.send(error);
  return reply!.code(answer.status).headers(answer.headers).send(answer.body);
}

export default tokenlay;
