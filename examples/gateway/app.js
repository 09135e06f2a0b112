// An Express app whose LLM calls go through a Tokenlay proxy (remote mode), here the gateway that
// `npm start` runs next to it. Each call carries the signed-in user and plan; the gateway applies
// the rules, meters the call and writes its ledger.
import express from 'express';
import { getTokenlayMetadata, TokenlayOpenAI } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/express';

// One client for the whole app. A tokenlayKey means remote mode: calls go to
// <tokenlayBaseUrl>/v1/…, and the provider key travels with each call (the gateway never stores it).
const openai = new TokenlayOpenAI({
  tokenlayKey: process.env.TOKENLAY_KEY,
  tokenlayBaseUrl: process.env.TOKENLAY_BASE_URL ?? 'http://127.0.0.1:8787',
  providerApiKey: process.env.PROVIDER_API_KEY,
  providerApiBase: process.env.PROVIDER_API_BASE, // unset: https://api.openai.com/v1
});

// Stands in for your auth (passport, express-jwt, a session): it leaves `req.user` behind, which is
// where tokenlay() looks for the user's id and plan when a call is made.
const USERS = {
  'alice-token': { id: 'alice', plan: 'free' },
  'bob-token': { id: 'bob', plan: 'pro' },
};
function signedIn(req, res, next) {
  req.user = USERS[req.get('authorization')?.replace(/^Bearer\s+/i, '') ?? ''];
  if (req.user) return next();
  res.status(401).json({ error: 'Sign in first: send "authorization: Bearer alice-token" (free plan) or "Bearer bob-token" (pro plan).' });
}

const app = express();
app.use(express.json());
app.use(tokenlay()); // opens the request scope; no header is threaded by hand below

app.post('/chat', signedIn, async (req, res) => {
  // No model: the gateway's rule for the user's plan names it.
  const completion = await openai.chat.completions.create({
    messages: [{ role: 'user', content: String(req.body?.message ?? 'Say hello.') }],
  });
  res.json({
    answer: completion.choices[0].message.content,
    model: completion.model,
    tokenlay: getTokenlayMetadata(completion), // rule, action, cost and tokens, as the gateway answered
    request: res.locals.tokenlay, // this request's roll-up: calls, cost, tokens
  });
});

// A refused call (the free plan's 4th request) becomes an OpenAI-style 429 with the rule's message.
app.use(tokenlayErrorHandler());

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 3000);
app.listen(port, host, () => console.log(`app listening on http://${host}:${port}`));
