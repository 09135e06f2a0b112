/**
 * The Vercel AI SDK in an Express app. The one tokenlay line on the SDK's side is the `fetch` given
 * to its OpenAI provider; `tokenlay()` on the app gives every call the signed-in user.
 */
import express from 'express';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { createTokenlayFetch } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/express';

// No tokenlayKey: the policy engine runs in this process (embedded mode) and calls go straight to
// the provider. 'memory' resets with the process: use 'sqlite:./.tokenlay/usage.db' on one
// machine, 'redis://…' on several.
const openai = createOpenAI({
  apiKey: process.env.PROVIDER_API_KEY,
  baseURL: process.env.PROVIDER_API_BASE, // undefined: OpenAI's
  fetch: createTokenlayFetch({ policy: './tokenlay.rules.yaml', store: 'memory' }),
});
// `.chat()`: Chat Completions. (`openai('…')` alone would use the Responses API, which works too.)
const model = openai.chat('gpt-4o-mini');

// The customers of this API call it with their own key; your database would hold these.
const customers = new Map([
  ['demo-key-alice', { id: 'alice', org: 'acme', plan: 'free' }],
  ['demo-key-bob', { id: 'bob', org: 'globex', plan: 'pro' }],
]);

const app = express();
app.use(express.json());
// Before the auth below, and that is fine: the user is read when the LLM call is made. onFinish
// logs the roll-up of each request that called a model, once its answer (a stream too) was sent.
const logUsage = (usage, req) => usage.calls && console.log(`usage ${req.user.id} ${req.path} ${JSON.stringify(usage)}`);
app.use(tokenlay({ onFinish: logUsage }));
app.use((req, res, next) => {
  req.user = customers.get(req.get('authorization')?.replace(/^Bearer /, '') ?? '');
  if (!req.user) return res.status(401).json({ error: { message: 'Send Authorization: Bearer <your API key>.' } });
  next();
});

// A block is final, but the AI SDK retries every 429 (twice, after 2 s and 4 s): it cannot tell
// a plan's limit from the provider's rate limit. So no SDK retries here.
const maxRetries = 0;

app.post('/chat', async (req, res) => {
  const { text } = await generateText({ model, prompt: req.body.prompt, maxRetries });
  res.json({ text, usage: res.locals.tokenlay });
});

app.post('/chat/stream', async (req, res) => {
  // streamText reports errors inside the stream (onError would log them too: they are answered
  // below). A block comes before the first word, while the answer can still be a 429.
  const result = streamText({ model, prompt: req.body.prompt, maxRetries, onError() {} });
  for await (const part of result.fullStream) {
    if (part.type === 'error') throw part.error;
    if (part.type === 'text-delta') {
      if (!res.headersSent) res.type('text/plain; charset=utf-8');
      res.write(part.text);
    }
  }
  res.end(); // onFinish logs the streamed call's usage once the stream is done
});

// A plan's limit reaches the SDK as the engine's 429 (an APICallError): tokenlayErrorHandler
// answers it as it came, with the rule's message and when to try again; other errors go on.
app.use(tokenlayErrorHandler());

const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', (error) => {
  if (error) throw error; // Express 5 hands listen errors (a port in use) to this callback
  console.log(`listening on http://127.0.0.1:${port}`);
});
