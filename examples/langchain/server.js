/**
 * LangChain's ChatOpenAI in an Express app. The one tokenlay line on LangChain's side is the
 * `fetch` in its `configuration`; `tokenlay()` on the app gives every call the signed-in user.
 */
import express from 'express';
import { ChatOpenAI } from '@langchain/openai';
import { createTokenlayFetch } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/express';

// No tokenlayKey: the policy engine runs in this process (embedded mode) and calls go straight to
// the provider. 'memory' resets with the process: use 'sqlite:./.tokenlay/usage.db' on one
// machine, 'redis://…' on several.
const chat = new ChatOpenAI({
  model: 'gpt-4o-mini',
  apiKey: process.env.PROVIDER_API_KEY,
  configuration: {
    baseURL: process.env.PROVIDER_API_BASE, // undefined: OpenAI's
    fetch: createTokenlayFetch({ policy: './tokenlay.rules.yaml', store: 'memory' }),
  },
});

// The customers of this API call it with their own key; your database would hold these. Each
// entry is already tokenlay's fields: user, org, plan.
const customers = new Map([
  ['demo-key-alice', { user: 'alice', org: 'acme', plan: 'free' }],
  ['demo-key-bob', { user: 'bob', org: 'globex', plan: 'pro' }],
]);
const customerOf = (req) => customers.get(req.get('authorization')?.replace(/^Bearer /, '') ?? '');

const app = express();
app.use(express.json());
app.use(
  tokenlay({
    // No auth middleware sets req.user here: identify says who calls, read when a model is called.
    identify: customerOf,
    // The roll-up of each request that called a model, once its answer (a stream too) was sent.
    onFinish: (usage, req) => usage.calls && console.log(`usage ${customerOf(req).user} ${req.path} ${JSON.stringify(usage)}`),
  }),
);
app.use('/chat', (req, res, next) => (customerOf(req) ? next() : res.status(401).json({ error: { message: 'Send Authorization: Bearer <your API key>.' } })));

app.post('/chat', async (req, res) => {
  const message = await chat.invoke(req.body.prompt);
  res.json({ text: message.content, usage: res.locals.tokenlay });
});

app.post('/chat/stream', async (req, res) => {
  // A block throws before the first chunk, while the answer can still be a 429.
  const stream = await chat.stream(req.body.prompt);
  for await (const chunk of stream) {
    if (!res.headersSent) res.type('text/plain; charset=utf-8');
    res.write(chunk.content);
  }
  res.end(); // onFinish logs the streamed call's usage once the stream is done
});

// A plan's limit reaches LangChain as OpenAI's 429 error with the rule's message; LangChain does
// not retry a 429 whose retry-after is over a minute away, as a day's limit is. tokenlayErrorHandler
// answers it as it came, with when to try again; other errors go on.
app.use(tokenlayErrorHandler());

const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', (error) => {
  if (error) throw error; // Express 5 hands listen errors (a port in use) to this callback
  console.log(`listening on http://127.0.0.1:${port}`);
});
