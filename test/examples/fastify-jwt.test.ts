// examples/fastify-jwt: Fastify 5 + @fastify/jwt; POST /login signs with app.jwt.sign.
import { bearerLogin } from './support.js';
import { forgedBearer, PASSWORD, plansSuite } from './web-plans.js';

plansSuite({
  name: 'fastify-jwt',
  signIn: (url, user) => bearerLogin(url, user, PASSWORD[user]),
  forged: forgedBearer(),
  models: { free: 'gpt-4o-mini', pro: 'gpt-4o' },
  freeMessage: 'Daily limit reached (3 requests on the free tier). Upgrade to pro for 500 a day.',
});
