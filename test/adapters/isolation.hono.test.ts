import { Hono } from 'hono';
import { jwt } from 'hono/jwt';
import { tokenlay, type TokenlayHonoVariables } from '../../adapters/hono.js';
import { serveFetch } from './fetch-server.js';
import { SECRET } from './helpers.js';
import { isolationSuite, type IsolationCase, type Kit } from './isolation.js';

function start(kit: Kit, authFirst: boolean) {
  const auth = jwt({ secret: SECRET, alg: 'HS256' });
  const mw = tokenlay({ onFinish: (usage, c) => kit.onFinish(usage, c.req.header('x-job')) });
  const app = new Hono<{ Variables: TokenlayHonoVariables }>();
  if (authFirst) app.use('*', auth).use('*', mw);
  else app.use('*', mw).use('*', auth);
  app.post('/chat', async (c) => {
    await kit.work(await c.req.json());
    return c.json({ usage: c.get('tokenlay') });
  });
  app.post('/upload', async (c) => {
    const form = await c.req.parseBody();
    await kit.work(JSON.parse(form.job as string));
    return c.json({ usage: c.get('tokenlay') });
  });
  return serveFetch(app.fetch);
}

const cases: IsolationCase[] = [
  { name: 'hono/jwt before tokenlay(), c.req.json() and parseBody() uploads', also: ['multipart'], start: (kit) => start(kit, true) },
  { name: 'hono/jwt after tokenlay(), c.req.json() and parseBody() uploads', also: ['multipart'], start: (kit) => start(kit, false) },
];

isolationSuite('Hono 4', cases);
