// Express 5 + passport-local with sessions: every LLM call is attributed to `req.user` and limited by
// the user's plan, with the policy engine running inside this process.
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { TokenlayOpenAI } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/express';

// Demo only: a real app keeps users in its database, with password hashes.
const accounts = new Map([
  ['alice', { password: 'alice-pw', plan: 'free' }],
  ['bob', { password: 'bob-pw', plan: 'pro' }],
]);

passport.use(
  new LocalStrategy((username, password, done) => {
    const account = accounts.get(username);
    done(null, account?.password === password ? { id: username, plan: account.plan } : false);
  }),
);
// The session keeps the user's id; each request looks the plan up again, so an upgrade applies at once.
passport.serializeUser((user, done) => done(null, user.id));
passport.deserializeUser((id, done) => done(null, accounts.has(id) ? { id, plan: accounts.get(id).plan } : false));

// One client for the whole app. No tokenlayKey: the rules file runs in this process. The provider's
// key and base URL come from PROVIDER_API_KEY and PROVIDER_API_BASE.
const openai = new TokenlayOpenAI({
  policy: './tokenlay.rules.yaml',
  store: 'memory', // resets on restart; 'sqlite:./usage.db' or 'redis://…' keeps counts in production
});

const app = express();
app.use(express.json());
app.use(session({ secret: process.env.SESSION_SECRET ?? 'demo-session-secret', resave: false, saveUninitialized: false }));
app.use(passport.session());
app.use(tokenlay()); // req.user ({ id, plan }) is read when a call is made

// Answers 401 on a wrong password (passport's default); on success the session cookie signs the user in.
app.post('/login', passport.authenticate('local'), (req, res) => res.json({ user: req.user }));

const signedIn = (req, res, next) => (req.isAuthenticated() ? next() : res.status(401).json({ error: 'sign in first: POST /login' }));

app.post('/chat', signedIn, async (req, res) => {
  const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: String(req.body?.message ?? '') }] });
  res.json({ answer: completion.choices[0].message.content, model: completion.model, usage: res.locals.tokenlay });
});

app.use(tokenlayErrorHandler()); // after the routes: a blocked call answers 429 with the rule's message

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
process.once('SIGTERM', () => server.close(() => openai.close())); // let calls in flight settle
