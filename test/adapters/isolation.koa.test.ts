import Koa3 from 'koa';
import Koa2 from 'koa2';
import { bodyParser } from '@koa/bodyparser';
import { Router } from '@koa/router';
import koaJwt from 'koa-jwt';
import multer from '@koa/multer';
import { tokenlay } from '../../adapters/koa.js';
import { listen } from '../support/http.js';
import { SECRET } from './helpers.js';
import { isolationSuite, type IsolationCase, type Kit } from './isolation.js';

function cases(Koa: typeof Koa3): IsolationCase[] {
  const start = (kit: Kit, authFirst: boolean) => {
    const jwt = koaJwt({ secret: SECRET });
    const mw = tokenlay({ onFinish: (usage, ctx) => kit.onFinish(usage, ctx.req.headers['x-job']) });
    const app = new Koa();
    if (authFirst) app.use(jwt).use(mw);
    else app.use(mw).use(jwt);
    app.use(bodyParser());
    const router = new Router();
    router.post('/chat', async (ctx) => {
      await kit.work((ctx.request as any).body);
      ctx.body = { usage: ctx.state.tokenlay };
    });
    router.post('/upload', multer().single('file'), async (ctx: any) => {
      await kit.work(JSON.parse(ctx.request.body.job));
      ctx.body = { usage: ctx.state.tokenlay };
    });
    app.use(router.routes());
    return listen(app.callback());
  };
  return [
    { name: 'koa-jwt before tokenlay(), @koa/bodyparser and @koa/multer', also: ['multipart'], start: (kit) => start(kit, true) },
    { name: 'koa-jwt after tokenlay(), @koa/bodyparser and @koa/multer', also: ['multipart'], start: (kit) => start(kit, false) },
  ];
}

isolationSuite('Koa 3', cases(Koa3));
isolationSuite('Koa 2', cases(Koa2 as typeof Koa3));
