import jsonwebtoken from 'jsonwebtoken';
import { getTokenlayUsage } from '../../src/index.js';
import { withTokenlay } from '../../adapters/next.js';
import { serveFetch } from './fetch-server.js';
import { SECRET } from './helpers.js';
import { isolationSuite, type IsolationCase, type Kit } from './isolation.js';

/** The app's session lookup: the user of a verified JWT. */
function identify(request: Request) {
  const header = request.headers.get('authorization') ?? '';
  const claims = jsonwebtoken.verify(header.slice('Bearer '.length), SECRET, { algorithms: ['HS256'] }) as jsonwebtoken.JwtPayload;
  return { user: claims.sub };
}

function start(kit: Kit) {
  const options = { identify, onFinish: (usage: Parameters<Kit['onFinish']>[0], request: Request) => kit.onFinish(usage, request.headers.get('x-job') ?? undefined) };
  const routes: Record<string, (request: Request, ctx: unknown) => Promise<Response>> = {
    '/chat': withTokenlay(async (request) => {
      await kit.work(await request.json());
      return Response.json({ usage: getTokenlayUsage() });
    }, options),
    '/upload': withTokenlay(async (request) => {
      const form = await request.formData();
      await kit.work(JSON.parse(form.get('job') as string));
      return Response.json({ usage: getTokenlayUsage() });
    }, options),
  };
  return serveFetch((request) => routes[new URL(request.url).pathname](request, { params: Promise.resolve({}) }), { overrideGlobalObjects: false });
}

const cases: IsolationCase[] = [
  { name: 'identify() verifying a JWT, request.json() and request.formData() uploads', also: ['multipart'], start },
];

isolationSuite('Next.js route handler', cases);
