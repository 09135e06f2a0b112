// examples/koa-jwt: Koa 3 + koa-jwt + @koa/router; POST /login signs a JWT with jsonwebtoken.
import { bearerLogin } from './support.js';
import { forgedBearer, PASSWORD, plansSuite } from './web-plans.js';

plansSuite({
  name: 'koa-jwt',
  signIn: (url, user) => bearerLogin(url, user, PASSWORD[user]),
  forged: forgedBearer(),
  models: { free: 'gpt-4.1-mini', pro: 'gpt-4.1' },
  freeMessage: 'That was your third question today on the free plan. More tomorrow, or go pro.',
});
