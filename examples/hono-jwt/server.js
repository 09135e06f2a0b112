// Hono 4 on @hono/node-server + hono/jwt: every LLM call is attributed to the verified JWT
// (`c.get('jwtPayload')`) and limited by its plan, with the policy engine running in this process.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { jwt, sign } from 'hono/jwt';
import { TokenlayOpenAI } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/hono';

const secret = process.env.JWT_SECRET ?? 'hono-demo-secret';
// Demo sign-ins; a real app verifies password hashes.
const users = new Map([
  ['alice', { password: 'alice-pw', plan: 'free' }],
  ['bob', { password: 'bob-pw', plan: 'pro' }],
]);

// One for the app. No tokenlayKey, so rules.yaml runs here; PROVIDER_API_KEY and
// PROVIDER_API_BASE name the provider.
const openai = new TokenlayOpenAI({
  policy: './rules.yaml',
  store: 'memory', // gone on restart; 'sqlite:./usage.db' or 'redis://…' outlive it in production
});

const app = new Hono();
app.use('*', tokenlay()); // c.get('jwtPayload') is read when a call is made, so before jwt() is fine
app.onError(tokenlayErrorHandler); // a block answers 429 with the rule's message; jwt()'s 401 stays a 401

app.post('/login', async (c) => {
  const { username, password } = await c.req.json().catch(() => ({}));
  const user = users.get(username);
  if (!user || user.password !== password) return c.json({ error: 'unknown user or wrong password' }, 401);
  // hono/jwt checks `exp`: the token is good for an hour.
  return c.json({ token: await sign({ sub: username, plan: user.plan, exp: Math.floor(Date.now() / 1000) + 3600 }, secret) });
});

app.post('/chat', jwt({ secret, alg: 'HS256' }), async (c) => {
  const { message } = await c.req.json().catch(() => ({}));
  const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: String(message ?? '') }] });
  return c.json({ answer: completion.choices[0].message.content, model: completion.model, usage: c.get('tokenlay') });
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' }, ({ port }) => {
  console.log(`listening on http://127.0.0.1:${port}`);
});
process.once('SIGTERM', () => server.close(() => openai.close()));
