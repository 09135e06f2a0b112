// examples/express-passport: Express 5 + passport-local; POST /login opens an express-session.
import { expect } from 'vitest';
import { postJson } from './support.js';
import { PASSWORD, plansSuite } from './web-plans.js';

plansSuite({
  name: 'express-passport',
  async signIn(url, user) {
    const { status, headers, body } = await postJson(`${url}/login`, { username: user, password: PASSWORD[user] });
    expect(status, JSON.stringify(body)).toBe(200);
    const cookie = headers.getSetCookie().find((c) => c.startsWith('connect.sid='));
    expect(cookie).toBeDefined();
    return { cookie: cookie!.split(';')[0]! };
  },
  forged: { cookie: 'connect.sid=s%3Aforged-session.not-signed-by-the-app' },
  models: { free: 'gpt-4o-mini', pro: 'gpt-4o' },
  freeMessage: 'Free accounts get 3 answers a day. Upgrade to pro to keep asking.',
  unauthenticated: { error: 'sign in first: POST /login' },
});
