import { runWithScope } from '../src/context.js';
import { finisher, requestScopes, type TokenlayMiddlewareOptions } from '../src/request-scope.js';
import { scopeResponse } from '../src/scoped-body.js';

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
    const scope = openScope(request, request.headers);
    const finish = finisher(options, scope, request);
    let response: Response;
    try {
      response = await runWithScope(scope, () => handler(request, context));
    } catch (err) {
      finish();
      throw err;
    }
    // Next sends the body after the handler has returned, outside the scope: its pulls must run
    // in the scope, and the request is finished only once the body has been sent.
    return scopeResponse(response, scope, finish);
  };
}

export default withTokenlay;
