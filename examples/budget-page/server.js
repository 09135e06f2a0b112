// Express: each user sees on the page what they have left of their LLM budget, read in the request
// with getTokenlayBudget() from the same store that enforces it. The policy engine runs in-process.
import express from 'express';
import { TokenlayOpenAI, getTokenlayBudget, getTokenlayMetadata } from 'tokenlay';
import { tokenlay, tokenlayErrorHandler } from 'tokenlay/express';

// Demo only: a real app takes the signed-in user from its session. Each customer has a billing date.
const USERS = {
  alice: { plan: 'free', billing_date: '2026-11-17' },
  bob: { plan: 'free', billing_date: '2026-03-05' },
};

const rules = {
  version: '0.1',
  fields: ['billing_date'],
  rules: [
    {
      id: 'free-plan',
      if: { plan: 'free' },
      then: {
        model: 'gpt-4o-mini',
        limits: [
          // $0.01 a month, the month starting on each user's own billing date.
          { type: 'cost', max: 0.01, window: 'month', per: 'user', billing_anchor: 'billing_date' },
          // And at most 5 questions in any 24 hours.
          { type: 'requests', max: 5, window: 'last_24h', per: 'user' },
        ],
        on_limit_exceeded: { action: 'block', error_message: 'You have used your free questions; they come back as the window moves.' },
      },
    },
  ],
};

// One client for the app; the provider's key and base come from PROVIDER_API_KEY and PROVIDER_API_BASE.
const openai = new TokenlayOpenAI({ policy: rules, store: 'memory' }); // production: 'sqlite:./usage.db' or 'redis://…'

const app = express();
app.use(express.json());
app.use(express.urlencoded({ extended: false })); // the page's own form
app.use(
  tokenlay({
    identify: (req) => {
      const name = String(req.query.user ?? 'alice');
      const user = USERS[name];
      return user ? { user: name, ...user } : undefined;
    },
    // Whatever one page load asks, it spends at most half a cent.
    budget: { cost: 0.005 },
  }),
);

const money = (usd) => `$${usd.toFixed(4)}`;
const escape = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One line per limit, as a user reads it. */
function line(l) {
  const left = l.type === 'cost' ? money(l.remaining) : `${l.remaining} ${l.type}`;
  const of = l.type === 'cost' ? money(l.max) : String(l.max);
  const window = l.window === 'month' ? 'this month' : l.window.startsWith('last_') ? `in the last ${l.window.slice(5).replace('h', ' hours').replace('d', ' days')}` : `this ${l.window}`;
  const resets = l.resetsAt ? `; more from ${l.resetsAt.slice(0, 16).replace('T', ' ')} UTC` : '';
  return `${left} left ${window} (of ${of})${resets}`;
}

app.get('/', async (req, res) => {
  const limits = (await getTokenlayBudget()).filter((l) => l.type !== 'run');
  const user = escape(String(req.query.user ?? 'alice'));
  res.type('html').send(`<!doctype html>
<title>Your budget</title>
<h1>Hello, ${user}</h1>
<ul id="budget">${limits.map((l) => `<li data-type="${l.type}" data-remaining="${l.remaining}">${escape(line(l))}</li>`).join('')}</ul>
<form method="post" action="/ask?user=${user}"><input name="message" placeholder="Ask something"><button>Ask</button></form>`);
});

app.get('/api/budget', async (_req, res) => res.json(await getTokenlayBudget()));

app.post('/ask', async (req, res) => {
  const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: String(req.body?.message ?? 'Hello') }] });
  // Asked from the page's form: back to the page, which shows what is left now.
  if (req.is('application/x-www-form-urlencoded')) return res.redirect(303, `/?user=${encodeURIComponent(String(req.query.user ?? 'alice'))}`);
  const meta = getTokenlayMetadata(completion);
  // Each answer says what its tightest limit has left, without a second read.
  res.json({ answer: completion.choices[0].message.content, cost: meta?.cost, budgetRemaining: meta?.budgetRemaining, budgetLimit: meta?.budgetLimit });
});

app.use(tokenlayErrorHandler());

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, process.env.HOST ?? '127.0.0.1', (error) => {
  if (error) throw error;
  console.log(`listening on http://127.0.0.1:${port}`);
});
process.once('SIGTERM', () => server.close(() => openai.close()));
