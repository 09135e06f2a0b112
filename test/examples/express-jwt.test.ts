// examples/express-jwt: Express 5 + express-jwt; a demo user gets a JWT from POST /login.
import { expect } from 'vitest';
import { plansSuite } from './web-plans.js';

plansSuite({
  name: 'express-jwt',
  models: { free: 'gpt-4o-mini', pro: 'gpt-4o' },
  freeMessage: 'The free plan allows 3 questions a day; upgrade to pro for more.',
  // The app's own error handler turns express-jwt's UnauthorizedError into JSON that says what to do.
  unauthenticated: { error: expect.stringMatching(/^No authorization token was found: POST \/login first/) },
});
