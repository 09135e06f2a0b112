// examples/express-jwt: Express 5 + express-jwt; a demo user gets a JWT from POST /login.
import { bearerLogin } from './support.js';
import { forgedBearer, PASSWORD, plansSuite } from './web-plans.js';

plansSuite({
  name: 'express-jwt',
  signIn: (url, user) => bearerLogin(url, user, PASSWORD[user]),
  forged: forgedBearer(),
  models: { free: 'gpt-4o-mini', pro: 'gpt-4o' },
  freeMessage: 'The free plan allows 3 questions a day; upgrade to pro for more.',
});
