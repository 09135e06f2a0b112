// Express 5 + express-jwt: every LLM call is attributed to the user in the JWT (`req.auth`) and
// limited by their plan, with the policy engine running inside this process.
import express from 'express';
import { expressjwt } from 'express-jwt';
import jsonwebtoken from 'jsonwebtoken';
import { TokenlayOpenAI } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/express';

// Demo only: a real app takes this from its secret store and checks password hashes.
const JWT_SECRET = process.env.JWT_SECRET ?? 'demo-secret-change-me';
const USERS = {
  alice: { password: 'alice-pw', plan: 'free' },
  bob: { password: 'bob-pw', plan: 'pro' },
};

// Plans as rules. A call names no model: the user's rule picks it.
const rules = {
  version: '0.1',
  rules: [
    {
      id: 'free-plan',
      if: { plan: 'free' },
      then: {
        model: 'gpt-4o-mini',
        limits: [{ type: 'requests', max: 3, window: 'day', per: 'user' }],
        on_limit_exceeded: { action: 'block', error_message: 'The free plan allows 3 questions a day; upgrade to pro for more.' },
      },
    },
    {
      id: 'pro-plan',
      if: { plan: 'pro' },
      then: {
        model: 'gpt-4o',
        // Past 200k tokens a day a pro user keeps going on the cheaper model.
        limits: [{ type: 'tokens', max: 200_000, window: 'day', per: 'user' }],
        on_limit_exceeded: { action: 'downgrade', downgrade_to: 'gpt-4o-mini' },
      },
    },
  ],
};

// One client for the whole app. No tokenlayKey: the rules run in this process. The provider's key
// and base URL come from PROVIDER_API_KEY and PROVIDER_API_BASE.
const openai = new TokenlayOpenAI({
  policy: rules,
  store: 'memory', // counters reset on restart; in production 'sqlite:./usage.db' or 'redis://…'
});

const app = express();
app.use(express.json());
app.use(tokenlay()); // reads req.auth when a call is made, so it may come before express-jwt

// Gives a demo user a token for one hour: `{ sub, plan }` is all tokenlay needs to know.
app.post('/login', (req, res) => {
  const { username, password } = req.body ?? {};
  const user = USERS[username];
  if (!user || user.password !== password) return res.status(401).json({ error: 'unknown user or wrong password' });
  res.json({ token: jsonwebtoken.sign({ sub: username, plan: user.plan }, JWT_SECRET, { expiresIn: '1h' }) });
});

app.post('/chat', expressjwt({ secret: JWT_SECRET, algorithms: ['HS256'] }), async (req, res) => {
  // No user header or id passed by hand: the call carries req.auth's user and plan.
  const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: String(req.body?.message ?? '') }] });
  res.json({ answer: completion.choices[0].message.content, model: completion.model, usage: res.locals.tokenlay });
});

// A blocked call becomes a 429 with the rule's message; express-jwt's refusals a 401.
app.use(tokenlayErrorHandler());
app.use((err, _req, res, next) => {
  if (err.name !== 'UnauthorizedError') return next(err);
  res.status(401).json({ error: `${err.message}: POST /login first, then send Authorization: Bearer <token>` });
});

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));

// Settle the calls in flight before exiting.
process.once('SIGTERM', () => server.close(() => openai.close()));
