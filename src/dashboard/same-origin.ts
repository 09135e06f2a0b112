/**
 * Login CSRF defence: a page on another site can make a browser post a form to the dashboard (and
 * so sign the victim into the attacker's account). Browsers say where a request comes from:
 * `Sec-Fetch-Site` (Chrome 76, Firefox 90, Safari 16.4 and later) and, on every POST, `Origin`.
 * A request with neither comes from no browser form (curl, a script), which CSRF cannot forge.
 * OWASP CSRF Prevention Cheat Sheet, "Fetch Metadata headers" and "Verifying Origin".
 */
import type { IncomingMessage } from 'node:http';

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === '' ? undefined : text.split(',')[0]!.trim();
}

/**
 * Why a state-changing request must be refused as cross-site, e.g. `Sec-Fetch-Site: cross-site`,
 * or undefined when it comes from the dashboard's own origin (or from no browser). `Origin` is
 * compared with the `Host` the request was sent to, or the `X-Forwarded-Host` a proxy in front
 * set (a cross-site form cannot set either).
 */
export function crossSiteReason(req: IncomingMessage): string | undefined {
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? undefined : `Sec-Fetch-Site: ${site}`;
  const origin = header(req, 'origin');
  if (origin === undefined) return undefined;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `Origin: ${origin.slice(0, 100)}`;
  }
  const own = [header(req, 'host'), header(req, 'x-forwarded-host')].map((h) => h?.toLowerCase());
  return own.includes(host) ? undefined : `Origin: ${origin.slice(0, 100)}`;
}
