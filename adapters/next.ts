import { currentScope, runWithScope } from '../src/scope/context.js';
import { limitAnswer } from '../src/protocol/limit-answer.js';
import { finisher, outerScope, requestScopes, type TokenlayMiddlewareOptions } from '../src/scope/request-scope.js';
import { scopeResponse } from '../src/scope/scoped-body.js';

/** Options of `withTokenlay`. There is no default identity: pass `identify(request)` from your session. */
export type TokenlayNextOptions<Req extends Request = Request> = TokenlayMiddlewareOptions<Req>;

/** A Next.js App Router route handler: `(request, { params }) => Response`. */
export type RouteHandler<Req extends Request = Request, Ctx = any> = (request: Req, context: Ctx) => Response | Promise<Response>;

const noIdentity = () => undefined;

/**
 * Wraps a Next.js App Router route handler (Node runtime) so that every LLM call it makes carries
 * the user, org and plan that `identify` reads from the request, including calls made while a
 * streamed `Response` body is being sent. `onFinish` runs once the body has been sent or cancelled.
 *
 * ```ts
 * export const POST = withTokenlay(
 *   async (request) => Response.json(await openai.chat.completions.create(await request.json())),
 *   { identify: async () => ({ user: (await auth())?.user?.id }) },
 * );
 * ```
 */
export function withTokenlay<Req extends Request = Request, Ctx = any>(
  handler: RouteHandler<Req, Ctx>,
  options: TokenlayNextOptions<Req> = {},
): (request: Req, context: Ctx) => Promise<Response> {
  const openScope = requestScopes(options, noIdentity);
  return async function tokenlayRouteHandler(request: Req, context: Ctx): Promise<Response> {
    // Wrapped twice in the same `withTokenlay`: nothing to add. Inside another one: an inner layer.
    const outer = outerScope(currentScope(), request, openScope);
    if (outer === null) return handler(request, context);
    const scope = openScope(request, request.headers, outer);
    const finish = finisher(options, scope, request);
    let response: Response;
    try {
      response = await runWithScope(scope, () => handler(request, context));
    } catch (err) {
      finish();
      // A block needs no try/catch in the route: it is answered as the OpenAI-style error.
      const answer = limitAnswer(err);
      if (answer) return new Response(answer.body, { status: answer.status, headers: answer.headers });
      throw err;
    }
    // Next sends the body after the handler has returned, outside the scope: its pulls must run
    // in the scope, and the request is finished only once the body has been sent.
    return scopeResponse(response, scope, finish);
  };
}

/**
 * For a route that is not wrapped in `withTokenlay`, or a custom `catch`: the OpenAI-style JSON
 * `Response` for a `TokenlayLimitError` (its status, `retry-after` and rule headers); any other
 * error is rethrown. `withTokenlay` already answers blocks this way.
 *
 * ```ts
 * try { return Response.json(await openai.chat.completions.create(body)) } catch (err) { return tokenlayErrorHandler(err) }
 * ```
 */
export function tokenlayErrorHandler(err: unknown): Response {
  const answer = limitAnswer(err);
  if (!answer) throw err;
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

export default withTokenlay;
