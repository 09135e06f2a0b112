// Koa 3 + koa-jwt: every LLM call is attributed to the user koa-jwt puts in `ctx.state.user` and
// limited by that user's plan, with the policy engine running inside this process.
import { bodyParser } from '@koa/bodyparser';
import { Router } from '@koa/router';
import jsonwebtoken from 'jsonwebtoken';
import Koa from 'koa';
import koaJwt from 'koa-jwt';
import { TokenlayOpenAI } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/koa';

const secret = process.env.JWT_SECRET ?? 'demo-only-jwt-secret';
/** Demo accounts; a real app checks a password hash in its database. */
const accounts = { alice: { password: 'alice-pw', plan: 'free' }, bob: { password: 'bob-pw', plan: 'pro' } };

// Shared by every request. Without a tokenlayKey the rules in plans.yaml are enforced in-process;
// PROVIDER_API_KEY and PROVIDER_API_BASE say which provider to call.
const openai = new TokenlayOpenAI({
  policy: './plans.yaml',
  store: 'memory', // forgets on restart: use 'sqlite:./usage.db' or 'redis://…' in production
});

const router = new Router();

router.post('/login', (ctx) => {
  const { username, password } = ctx.request.body ?? {};
  const account = accounts[username];
  if (!account || account.password !== password) ctx.throw(401, 'unknown user or wrong password');
  // koa-jwt will hand this payload back as ctx.state.user: `sub` and `plan` are what tokenlay reads.
  ctx.body = { token: jsonwebtoken.sign({ sub: username, plan: account.plan }, secret, { expiresIn: '1h' }) };
});

router.post('/chat', koaJwt({ secret }), async (ctx) => {
  const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: String(ctx.request.body?.message ?? '') }] });
  ctx.body = { answer: completion.choices[0].message.content, model: completion.model, usage: ctx.state.tokenlay };
});

const app = new Koa();
app.use(tokenlayErrorHandler()); // before the routes: a block thrown below becomes the rule's 429
app.use(tokenlay()); // identity is read at call time, after koa-jwt has run
app.use(bodyParser());
app.use(router.routes());

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
process.once('SIGTERM', () => server.close(() => openai.close()));
