// examples/hono-jwt: Hono 4 on @hono/node-server + hono/jwt; POST /login signs with hono/jwt's sign.
import { plansSuite } from './web-plans.js';

plansSuite({
  name: 'hono-jwt',
  models: { free: 'gpt-4o-mini', pro: 'gpt-4o' },
  freeMessage: 'You have used the 3 free calls of today. Pro has no daily cap.',
  unauthenticated: 'Unauthorized', // hono/jwt's HTTPException, answered by tokenlayErrorHandler as itself
});
