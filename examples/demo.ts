/**
 * The whole product in one process, with no server and no keys: an Express app whose users are on
 * free and pro plans, one shared TokenlayOpenAI in embedded mode, and a local stand-in provider.
 *
 *   npm install && npm run demo
 */
import express from 'express';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { TokenlayOpenAI, TokenlayLimitError, getTokenlayMetadata } from '../src/index.js';
import { tokenlay } from '../adapters/express.js';
import { startLocalProvider } from './local-provider.js';

const USERS: Record<string, { id: string; plan: string; org: string }> = {
  alice: { id: 'alice', plan: 'free', org: 'acme' },
  bob: { id: 'bob', plan: 'pro', org: 'globex' },
};

async function main() {
  const provider = await startLocalProvider();
  rmSync(new URL('../.tokenlay/demo.db', import.meta.url), { force: true });
  rmSync(new URL('../.tokenlay/demo.db-wal', import.meta.url), { force: true });

  // One client for the whole app. No tokenlayKey: the policy engine runs in-process.
  const openai = new TokenlayOpenAI({
    providerApiKey: 'demo-key',
    providerApiBase: provider.base,
    policy: new URL('./tokenlay.rules.yaml', import.meta.url).pathname,
    store: 'sqlite:./.tokenlay/demo.db',
  });

  const app = express();
  // Mounted before auth on purpose: identity is read when the LLM call is made.
  app.use(tokenlay({ onFinish: (usage, req) => console.log(`  ↳ request by ${(req as any).user?.id}: ${usage.calls} call(s), $${usage.cost.toFixed(6)}, ${usage.inputTokens}+${usage.outputTokens} tokens`) }));
  app.use(express.json());
  app.use((req: any, _res, next) => {
    req.user = USERS[String(req.headers['x-demo-user'])]; // stands in for passport or a JWT
    next();
  });
  app.post('/chat', async (req, res) => {
    try {
      // No model: the rules route the call (free users to gpt-4o-mini, pro users to gpt-4o).
      const completion = await openai.chat.completions.create({ messages: [{ role: 'user', content: req.body.question }] });
      const meta = getTokenlayMetadata(completion);
      res.json({ answer: completion.choices[0].message.content, model: completion.model, cost: meta?.cost, warnings: meta?.warnings ?? [] });
    } catch (err) {
      if (err instanceof TokenlayLimitError) {
        res.status(err.status ?? 429).json({ blocked: err.message, rule: err.ruleId, retryAfter: err.retryAfter });
        return;
      }
      throw err;
    }
  });

  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const ask = async (user: string, question: string) => {
    const res = await fetch(`${url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-demo-user': user }, body: JSON.stringify({ question }) });
    const body = await res.json();
    console.log(`${user.padEnd(5)} ${res.status} ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 10));
  };

  console.log('alice is on the free plan: 3 requests a day, then blocked.');
  for (let i = 1; i <= 4; i++) await ask('alice', `question ${i}`);
  console.log('\nbob is on pro: gpt-4o until $0.025 a month (warned at 80 %), then downgraded to gpt-4o-mini.');
  for (let i = 1; i <= 4; i++) await ask('bob', `question ${i}`);

  server.close();
  await openai.close();
  await provider.close();
  console.log('\nUsage ledger: .tokenlay/demo.db (SQLite). Next: point TokenlayOpenAI at a proxy with tokenlayKey.');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
