import type { IncomingMessage, ServerResponse } from 'node:http';

/** Who is looking at the page: an account, and the fields that every read is restricted to. */
export interface DashboardViewer {
  /** Shown on the page, e.g. the account's name. */
  account: string;
  /** Ledger fields that a row must have to be shown, e.g. `{ org: 'acme' }`. */
  fields: Record<string, string>;
}

/** Sign-in with a tokenlay key: the page shows a form and keeps the key in a cookie. */
export interface DashboardAuth {
  /** The viewer a key belongs to, or null for a key that is unknown or revoked. Called on every request. */
  viewerFor(key: string): DashboardViewer | null | Promise<DashboardViewer | null>;
}

/** The cookie the key is kept in: HttpOnly (no script reads it), SameSite=Strict, Path of the mount. */
export const COOKIE = 'tokenlay_dashboard_key';
const MAX_AGE_S = 12 * 3600;

/** Reads the key cookie from a request. */
export function keyFromCookie(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === COOKIE) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Whether the browser reached us over TLS: a TLS socket, or `req.secure` (Express's, which follows its `trust proxy`; the gateway's, which follows `--trust-proxy`). */
function secure(req: IncomingMessage & { secure?: boolean }): boolean {
  return Boolean((req.socket as { encrypted?: boolean }).encrypted) || req.secure === true;
}

/** Sets (or, with null, clears) the key cookie for the mount path. */
export function setKeyCookie(req: IncomingMessage, res: ServerResponse, mountPath: string, key: string | null): void {
  const parts = [
    `${COOKIE}=${key === null ? '' : encodeURIComponent(key)}`,
    `Path=${mountPath}`,
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${key === null ? 0 : MAX_AGE_S}`,
  ];
  if (secure(req)) parts.push('Secure');
  res.setHeader('set-cookie', parts.join('; '));
}

/** Reads a small urlencoded form body (the sign-in form), or what a body parser already read. */
export async function readForm(req: IncomingMessage & { body?: unknown }, limit = 4096): Promise<URLSearchParams> {
  if (req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) {
    return new URLSearchParams(Object.entries(req.body as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
  }
  if (req.readableEnded) return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
