// Fastify 5 + @fastify/jwt: every LLM call is attributed to `request.user` (the verified JWT) and
// limited by that user's plan, with the policy engine running inside this process.
import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';
import { TokenlayOpenAI } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/fastify';

// Demo only: real passwords are hashed, and the JWT secret comes from a secret store.
const demoUsers = new Map([
  ['alice', { password: 'alice-pw', plan: 'free' }],
  ['bob', { password: 'bob-pw', plan: 'pro' }],
]);

// The one client of the app. With no tokenlayKey the rules run here; the provider comes from
// PROVIDER_API_KEY and PROVIDER_API_BASE.
const openai = new TokenlayOpenAI({
  policy: './tokenlay.rules.yaml',
  store: 'memory', // a restart forgets the counts; production wants 'sqlite:./usage.db' or 'redis://…'
});

const app = Fastify();
await app.register(fastifyJwt, { secret: process.env.JWT_SECRET ?? 'demo-jwt-secret' });
await app.register(tokenlay); // on the root instance it covers every route; request.user is read per call
app.setErrorHandler(tokenlayErrorHandler); // blocks answer 429; @fastify/jwt's 401s go on to Fastify's handler
app.addHook('onClose', () => openai.close()); // settle calls in flight when the server closes

app.post('/login', async (request, reply) => {
  const { username, password } = request.body ?? {};
  const user = demoUsers.get(username);
  if (!user || user.password !== password) return reply.code(401).send({ error: 'unknown user or wrong password' });
  return { token: app.jwt.sign({ sub: username, plan: user.plan }, { expiresIn: '1h' }) };
});

app.post('/chat', { onRequest: (request) => request.jwtVerify() }, async (request) => {
  const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: String(request.body?.message ?? '') }] });
  return { answer: completion.choices[0].message.content, model: completion.model, usage: request.tokenlay };
});

const port = Number(process.env.PORT ?? 3000);
await app.listen({ port, host: '127.0.0.1' });
console.log(`listening on http://127.0.0.1:${port}`);
process.once('SIGTERM', () => app.close());
