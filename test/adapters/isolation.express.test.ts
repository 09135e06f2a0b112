import express5 from 'express';
import express4 from 'express4';
import { expressjwt } from 'express-jwt';
import multer from 'multer';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { tokenlay } from '../../adapters/express.js';
import { listen } from '../support/http.js';
import { SECRET } from './helpers.js';
import { isolationSuite, type IsolationCase, type Kit } from './isolation.js';

passport.use(new LocalStrategy((username, password, done) => done(null, password === 'secret' ? { id: username } : false)));

function cases(express: typeof express5): IsolationCase[] {
  const start = (kit: Kit, authFirst: boolean) => {
    const mw = tokenlay({ onFinish: (usage, req) => kit.onFinish(usage, req.headers['x-job']) });
    const jwt = expressjwt({ secret: SECRET, algorithms: ['HS256'] });
    const login = passport.authenticate('local', { session: false });
    const report = (job: (req: express5.Request) => any) => async (req: express5.Request, res: express5.Response) => {
      await kit.work(job(req));
      res.json({ usage: res.locals.tokenlay });
    };
    const app = express();
    app.use(express.json(), passport.initialize());
    // express-jwt on the JWT routes, passport-local on /login: each before or after tokenlay().
    const auth = (guard: express5.RequestHandler) => (authFirst ? [guard, mw] : [mw, guard]);
    app.post('/chat', ...auth(jwt), report((req) => req.body));
    app.post('/login', ...auth(login), report((req) => req.body));
    app.post('/upload', ...auth(jwt), multer().single('file'), report((req) => JSON.parse(req.body.job)));
    return listen(app);
  };
  return [
    { name: 'express-jwt and passport-local before tokenlay(), multer uploads', also: ['login', 'multipart'], start: (kit) => start(kit, true) },
    { name: 'express-jwt and passport-local after tokenlay(), multer uploads', also: ['login', 'multipart'], start: (kit) => start(kit, false) },
  ];
}

isolationSuite('Express 5', cases(express5));
isolationSuite('Express 4', cases(express4 as typeof express5));
