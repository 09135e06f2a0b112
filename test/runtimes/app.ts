// The app every runtime test serves: Hono with tokenlay() before JWT auth, and one route per way
// of calling through a Tokenlay proxy (here the provider stand-in answering as one).
import { Hono } from 'hono';
import { jwt } from 'hono/jwt';
import { createTokenlayFetch, getTokenlayMetadata, getTokenlayUsage, tokenlayFetch, TokenlayOpenAI } from 'tokenlay';
import { tokenlay } from 'tokenlay/hono';

export interface AppEnv {
  /** The stand-in's origin, e.g. http://127.0.0.1:1234 */
  PROXY_URL: string;
  JWT_SECRET: string;
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

export function createApp(env: AppEnv) {
  const keys = { providerApiKey: 'sk-provider-runtime', tokenlayKey: 'tl-runtime', tokenlayBaseUrl: env.PROXY_URL };
  const openai = new TokenlayOpenAI({ ...keys, maxRetries: 0 });
  const proxyFetch = createTokenlayFetch(keys);
  const app = new Hono();
  app.use(tokenlay());
  app.use('/call/*', jwt({ secret: env.JWT_SECRET, alg: 'HS256' }));

  app.post('/call/client', async (c) => {
    const completion = await openai.chat.completions.create(chat);
    return c.json({ text: completion.choices[0]!.message.content, cost: getTokenlayMetadata(completion)?.cost, usage: getTokenlayUsage() });
  });
  app.post('/call/stream', async (c) => {
    const stream = await openai.chat.completions.create({ ...chat, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return c.json({ text: text.trim(), cost: getTokenlayMetadata(stream)?.cost, usage: getTokenlayUsage() });
  });
  app.post('/call/fetch', async (c) => {
    const res = await tokenlayFetch(`${env.PROXY_URL}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer tl-runtime' },
      body: JSON.stringify(chat),
    });
    const body = (await res.json()) as any;
    return c.json({ text: body.choices[0].message.content, cost: getTokenlayMetadata(res)?.cost, usage: getTokenlayUsage() });
  });
  app.post('/call/create-fetch', async (c) => {
    // As a fetch-based SDK would call the provider; createTokenlayFetch re-routes it to the proxy.
    const res = await proxyFetch('https://api.openai.com/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-provider-runtime' },
      body: JSON.stringify(chat),
    });
    const body = (await res.json()) as any;
    return c.json({ text: body.choices[0].message.content, cost: getTokenlayMetadata(res)?.cost, usage: getTokenlayUsage() });
  });
  app.get('/embedded', (c) => {
    try {
      new TokenlayOpenAI({ providerApiKey: 'sk-provider-runtime', policy: { version: '0.1', rules: [] } });
      return c.json({ ok: true });
    } catch (err) {
      return c.json({ ok: false, name: (err as Error).name, message: (err as Error).message });
    }
  });
  return app;
}
