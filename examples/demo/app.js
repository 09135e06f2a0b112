/**
 * The app of the demo: an ordinary Express app with its own sign-in (a JWT from `POST /login`) and
 * one chat route. What tokenlay adds is marked "tokenlay": one middleware, one shared client, one
 * error handler, and the dashboard mounted where admins can reach it.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import { expressjwt } from 'express-jwt';
import jwt from 'jsonwebtoken';
import { getTokenlayMetadata } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/express';

/** The app's users, as its user database would hold them. */
export const USERS = {
  alice: { password: 'alice-pw', plan: 'free', org: 'acme' },
  bob: { password: 'bob-pw', plan: 'pro', org: 'globex' },
  carol: { password: 'carol-pw', plan: 'enterprise', org: 'initech' },
};

/**
 * @param {{ openai: import('tokenlay').TokenlayOpenAI, dashboard: import('express').RequestHandler }} parts
 */
export function createApp({ openai, dashboard }) {
  const secret = randomBytes(32);
  const app = express();

  // tokenlay: opens a request scope for every request. It may come before the auth below: the user
  // is read when an LLM call is made, from the `req.user` that express-jwt leaves behind
  // (`sub` is the user, `plan` and `org` are read as they are).
  app.use(tokenlay());
  app.use(express.json());

  app.post('/login', (req, res) => {
    const { username, password } = req.body ?? {};
    const user = USERS[username];
    if (!user || user.password !== password) return res.status(401).json({ error: { message: 'wrong username or password' } });
    res.json({ token: jwt.sign({ sub: username, plan: user.plan, org: user.org }, secret, { expiresIn: '1h' }) });
  });

  const signedIn = expressjwt({ secret, algorithms: ['HS256'], requestProperty: 'user' });

  app.post('/chat', signedIn, async (req, res) => {
    /** @type {import('openai').OpenAI.ChatCompletionMessageParam[]} */
    const messages = [{ role: 'user', content: String(req.body?.question ?? '') }];
    // No model and no user here: the rules pick the model for the user's plan, and the call
    // carries the user because it is made while serving their request.
    if (req.body?.stream) {
      const stream = await openai.chat.completions.create({ messages, stream: true });
      res.type('text/plain');
      for await (const chunk of stream) res.write(chunk.choices[0]?.delta?.content ?? '');
      return res.end();
    }
    const completion = await openai.chat.completions.create({ messages });
    const { warnings = [] } = getTokenlayMetadata(completion) ?? {};
    res.json({ answer: completion.choices[0].message.content, model: completion.model, warnings, usage: res.locals.tokenlay });
  });

  // tokenlay: the dashboard over the engine's ledger. In a real app, behind your admin check.
  app.use('/dashboard', dashboard);

  // tokenlay: a call refused by a rule becomes the OpenAI-style 429 JSON, with the rule's message.
  app.use(tokenlayErrorHandler());
  app.use((err, _req, res, next) => {
    if (res.headersSent) return next(err);
    // express-jwt's 401s, and what the provider answered (a wrong key: 401 from the provider).
    res.status(err.status ?? 500).json({ error: { message: err.message } });
  });
  return app;
}
