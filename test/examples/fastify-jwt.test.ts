// examples/fastify-jwt: Fastify 5 + @fastify/jwt; POST /login signs with app.jwt.sign.
import { expect } from 'vitest';
import { plansSuite } from './web-plans.js';

plansSuite({
  name: 'fastify-jwt',
  models: { free: 'gpt-4o-mini', pro: 'gpt-4o' },
  freeMessage: 'Daily limit reached (3 requests on the free tier). Upgrade to pro for 500 a day.',
  // tokenlayErrorHandler hands @fastify/jwt's error on to Fastify's default handler.
  unauthenticated: expect.objectContaining({ statusCode: 401, code: 'FST_JWT_NO_AUTHORIZATION_IN_HEADER' }),
});
