// examples/koa-jwt: Koa 3 + koa-jwt + @koa/router; POST /login signs a JWT with jsonwebtoken.
import { plansSuite } from './web-plans.js';

plansSuite({
  name: 'koa-jwt',
  models: { free: 'gpt-4.1-mini', pro: 'gpt-4.1' },
  freeMessage: 'That was your third question today on the free plan. More tomorrow, or go pro.',
  unauthenticated: 'Authentication Error', // koa-jwt's own 401, rethrown past tokenlayErrorHandler to Koa
});
