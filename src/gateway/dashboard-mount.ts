import type { OverrideStore } from '../store/overrides.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DashboardHandler } from '../dashboard/index.js';
import type { TokenlayStore } from '../store/types.js';
import { ACCOUNT_FIELD } from './call-headers.js';
import type { KeyStore } from './keys.js';

/** Where the gateway serves the dashboard. */
export const DASHBOARD_PATH = '/dashboard';

const FIRST_CALL = [
  "import { TokenlayOpenAI, runWithTokenlay } from 'tokenlay';",
  'const openai = new TokenlayOpenAI({ providerApiKey: process.env.OPENAI_API_KEY, tokenlayKey: process.env.TOKENLAY_KEY, tokenlayBaseUrl: process.env.TOKENLAY_BASE_URL });',
  "await runWithTokenlay({ user: 'alice', plan: 'pro' }, () =>",
  "  openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }));",
].join('\n');

/**
 * `GET /dashboard` on the gateway: the dashboard, signed in with a tokenlay key (kept in an
 * HttpOnly, SameSite cookie scoped to /dashboard/), each key seeing only its account's calls.
 * The dashboard module loads on the first request for it.
 */
export function createDashboardMount(opts: { store: TokenlayStore; keys: KeyStore; rules: string | object | undefined; isSecure: (req: IncomingMessage) => boolean; overrides?: OverrideStore }) {
  let handler: Promise<DashboardHandler> | undefined;
  const load = () =>
    (handler ??= import('../dashboard/index.js').then(({ tokenlayDashboard }) =>
      tokenlayDashboard({
        store: opts.store,
        ...(opts.overrides === undefined ? {} : { overrides: opts.overrides }),
        ...(opts.rules === undefined ? {} : { rules: opts.rules }),
        firstCall: FIRST_CALL,
        auth: {
          async viewerFor(key) {
            const account = await opts.keys.authenticate(key);
            return account === undefined ? null : { account, fields: { [ACCOUNT_FIELD]: account } };
          },
        },
      }),
    ));
  return {
    /** Whether a path is the dashboard's. */
    owns(path: string): boolean {
      return path === DASHBOARD_PATH || path.startsWith(DASHBOARD_PATH + '/');
    },
    async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const dashboard = await load();
      const raw = req.url ?? '/';
      const inner = raw.slice(DASHBOARD_PATH.length) || '/';
      // `secure` as Express has it: the dashboard marks its cookie Secure when the client used TLS,
      // which behind a trusted proxy only X-Forwarded-Proto tells.
      Object.assign(req, { originalUrl: raw, url: inner.startsWith('/') ? inner : '/' + inner, secure: opts.isSecure(req) });
      // Without a next(), the dashboard answers everything itself: 404 for what it does not serve.
      await new Promise<void>((resolve) => {
        res.once('close', resolve);
        dashboard(req, res);
      });
    },
  };
}
