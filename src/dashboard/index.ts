import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadRules } from '../policy/load.js';
import type { RulesDocument } from '../policy/types.js';
import { createStore } from '../store/index.js';
import { openOverrideStore } from '../store/overrides-open.js';
import type { OverrideStore } from '../store/overrides.js';
import type { TokenlayStore } from '../store/types.js';
import { USAGE_GROUPINGS } from '../store/usage-breakdown.js';
import { readAsset } from './assets.js';
import { keyFromCookie, readForm, setKeyCookie, type DashboardAuth, type DashboardViewer } from './auth.js';
import { dashboardPage, signInPage } from './page.js';
import { crossSiteReason } from './same-origin.js';
import { buildReport, type ReportFilters } from './report.js';
import { PAGE_WINDOWS, type PageWindow } from './windows.js';

export type { DashboardAuth, DashboardViewer } from './auth.js';
export type { DashboardReport, RecentCall, ReportFilters } from './report.js';
export type { LimitStatus } from './limit-status.js';
export type { CreditRow, OverrideRow } from './overrides-panel.js';
export type { MarginReport, PlanMargin, UserMargin } from './margins.js';
export { PAGE_WINDOWS, type PageWindow } from './windows.js';

/** Options of {@link tokenlayDashboard}. */
export interface DashboardOptions {
  /** The store the engine writes: a store object (e.g. `embeddedFetch.engine.store`) or a spec such as `'sqlite:./.tokenlay/usage.db'`. */
  store: TokenlayStore | string;
  /** The rules file (path or object): its limits give the limit status, its `plans:` the margins. */
  rules?: string | object;
  /** Sign-in with a tokenlay key (the gateway's); without it the page trusts whoever reaches it, so mount it behind your own admin check. */
  auth?: DashboardAuth;
  /** How often the open page refreshes, ms. Default 5000. */
  refreshMs?: number;
  /** The code the empty state shows to send a first call. Default: four lines of embedded mode over this store. */
  firstCall?: string;
  /** The clock, ms since epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * Where limits set at run time and credits are kept, listed in the Limits panel: `engine.overrides`
   * of the engine that writes `store`. Default: the `sqlite:` store's file when `store` is one; else none.
   */
  overrides?: OverrideStore;
}

/** A Connect/Express-style handler; also a plain `http.createServer` listener. */
export type DashboardHandler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void) & {
  /** The store the page reads. */
  readonly store: TokenlayStore;
};

function defaultFirstCall(store: TokenlayStore | string): string {
  const spec = typeof store === 'string' && /^sqlite:/i.test(store) ? store : 'sqlite:./.tokenlay/usage.db';
  return [
    "import { TokenlayOpenAI, runWithTokenlay } from 'tokenlay';",
    `const openai = new TokenlayOpenAI({ providerApiKey: process.env.OPENAI_API_KEY, store: '${spec}' });`,
    "await runWithTokenlay({ user: 'alice', plan: 'pro' }, () =>",
    "  openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }));",
  ].join('\n');
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...SECURITY_HEADERS, ...headers });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/** The path the handler is mounted at, as the browser sees it (Express sets `originalUrl`). */
function mountPath(req: IncomingMessage & { originalUrl?: string; baseUrl?: string }, path: string): string {
  if (typeof req.baseUrl === 'string') return req.baseUrl + '/';
  const full = new URL(req.originalUrl ?? req.url ?? '/', 'http://x').pathname;
  return full.endsWith(path) ? full.slice(0, full.length - path.length) + '/' : '/';
}

/**
 * The tokenlay dashboard: a page (spend and tokens over time, breakdowns by user, org, plan,
 * project, feature and model, limit status, margins, recent calls) and its JSON API over a
 * store's ledger and counters. Mount it in an app, behind your own admin check:
 *
 * ```ts
 * import { tokenlayDashboard } from 'tokenlay/dashboard';
 * app.use('/admin/tokenlay', requireAdmin, tokenlayDashboard({ store: 'sqlite:./.tokenlay/usage.db', rules: './tokenlay.rules.yaml' }));
 * ```
 *
 * Routes, relative to the mount: `GET /` the page; `GET /api/report?window=24h|7d|30d|mtd&user=…`
 * the numbers (JSON, see {@link DashboardReport}); `GET /assets/*`; with `auth`, `POST /signin`
 * (form field `key`) and `POST /signout`, each refused with 403 when a browser sends it from another
 * site (`Sec-Fetch-Site`, or an `Origin` other than the request's host). The page refreshes itself every `refreshMs`.
 *
 * @throws {TokenlayRulesError} at once when `rules` are malformed; an Error for a bad store spec.
 */
export function tokenlayDashboard(options: DashboardOptions): DashboardHandler {
  if (options === null || typeof options !== 'object' || options.store === undefined) {
    throw new TypeError("tokenlayDashboard: pass the store the engine writes, e.g. tokenlayDashboard({ store: 'sqlite:./.tokenlay/usage.db' }) or { store: engine.store }.");
  }
  const store = createStore(options.store);
  const overrides = options.overrides ?? (typeof options.store === 'string' && /^sqlite:/i.test(options.store.trim()) ? openOverrideStore({ store: options.store }) : undefined);
  const rules: RulesDocument | undefined = options.rules === undefined ? undefined : loadRules(options.rules);
  const refreshMs = options.refreshMs ?? 5000;
  if (!Number.isFinite(refreshMs) || refreshMs < 250) throw new RangeError(`tokenlayDashboard: refreshMs must be at least 250 (ms); got ${String(options.refreshMs)}.`);
  const now = options.now ?? Date.now;
  const firstCall = options.firstCall ?? defaultFirstCall(options.store);
  const auth = options.auth;

  async function viewerOf(req: IncomingMessage): Promise<DashboardViewer | null | undefined> {
    if (!auth) return undefined;
    const key = keyFromCookie(req);
    return key === undefined ? null : await auth.viewerFor(key);
  }

  async function serve(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next?: (err?: unknown) => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';

    if (get && path.startsWith('/assets/')) {
      const asset = readAsset(path.slice('/assets/'.length));
      if (asset) return send(res, 200, asset.type, asset.body, { 'cache-control': 'public, max-age=300' });
    }
    if (get && (path === '/' || path === '')) {
      // Relative links need the trailing slash: /admin/tokenlay → /admin/tokenlay/.
      const original = new URL(req.originalUrl ?? req.url ?? '/', 'http://dashboard');
      if (!original.pathname.endsWith('/')) {
        res.writeHead(308, { location: original.pathname + '/' + original.search });
        res.end();
        return;
      }
      const viewer = await viewerOf(req);
      if (viewer === null) return send(res, 200, 'text/html; charset=utf-8', signInPage());
      return send(res, 200, 'text/html; charset=utf-8', dashboardPage({ account: viewer?.account, refreshMs, firstCall, signOut: auth !== undefined }));
    }
    if (get && path === '/api/report') {
      const viewer = await viewerOf(req);
      if (viewer === null) return json(res, 401, { error: { message: 'Sign in with a tokenlay key first (POST signin, form field key).', code: 'not_signed_in' } });
      const window = (url.searchParams.get('window') ?? '24h') as PageWindow;
      if (!PAGE_WINDOWS.includes(window)) {
        return json(res, 400, { error: { message: `window "${window}" is not one of ${PAGE_WINDOWS.join('|')}.`, code: 'invalid_window', param: 'window' } });
      }
      const filters: ReportFilters = {};
      for (const g of USAGE_GROUPINGS) {
        const v = url.searchParams.get(g);
        if (v !== null && v !== '') filters[g] = v;
      }
      const report = await buildReport({ store, rules, scope: viewer?.fields ?? {}, window, filters, now: now(), overrides });
      return json(res, 200, report);
    }
    // Every state-changing route: a page on another site must not sign a browser in or out.
    const crossSite = get ? undefined : crossSiteReason(req);
    if (crossSite !== undefined) {
      return send(res, 403, 'text/html; charset=utf-8', signInPage(`This request came from another site (${crossSite}), so it was refused. Open the dashboard itself and sign in from its own page.`));
    }
    if (auth && method === 'POST' && path === '/signin') {
      let key = '';
      try {
        key = ((await readForm(req)).get('key') ?? '').trim();
      } catch {
        return send(res, 413, 'text/html; charset=utf-8', signInPage('That form was too large; paste only the key.'));
      }
      const viewer = key === '' ? null : await auth.viewerFor(key);
      if (!viewer) {
        // The key is not repeated back: it may be a real key of another product.
        return send(res, 401, 'text/html; charset=utf-8', signInPage('That key was not recognised. Paste a tokenlay key (tokenlay keys list shows them) and try again.'));
      }
      setKeyCookie(req, res, mountPath(req, path), key);
      res.writeHead(303, { location: './', 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (auth && method === 'POST' && path === '/signout') {
      setKeyCookie(req, res, mountPath(req, path), null);
      res.writeHead(303, { location: './', 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (next) return next();
    send(res, 404, 'text/plain; charset=utf-8', 'Not found');
  }

  const handler = function tokenlayDashboardHandler(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void {
    serve(req, res, next).catch((err: unknown) => {
      if (next) return next(err);
      if (!res.headersSent) json(res, 500, { error: { message: `tokenlay dashboard: ${(err as Error).message}`, code: 'dashboard_error' } });
      else res.destroy();
    });
  };
  return Object.assign(handler, { store }) as DashboardHandler;
}
