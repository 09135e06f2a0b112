/**
 * Who is on the other end of a request. Without `trustProxy`, the socket's peer; behind a
 * TLS-terminating proxy (`--trust-proxy`), what that proxy says in `X-Forwarded-For` and
 * `X-Forwarded-Proto`. Only the last value of each counts: it is the one the nearest proxy wrote,
 * while earlier ones came from the client and can say anything.
 */
import type { IncomingMessage } from 'node:http';

function lastValue(req: IncomingMessage, name: string): string | undefined {
  const raw = req.headers[name];
  const joined = Array.isArray(raw) ? raw.join(',') : raw;
  const last = joined?.split(',').map((v) => v.trim()).filter(Boolean).pop();
  // An address or a scheme is short: a longer value is not one, and must not swell every log line.
  return last === undefined || last === '' ? undefined : last.slice(0, 64);
}

/** The client's address: `X-Forwarded-For`'s last entry when the proxy is trusted, else the socket's peer. */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string | undefined {
  return (trustProxy ? lastValue(req, 'x-forwarded-for') : undefined) ?? req.socket.remoteAddress;
}

/** Whether the client reached the gateway over TLS: its own socket, or `X-Forwarded-Proto: https` from a trusted proxy. */
export function isSecureRequest(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  return trustProxy && lastValue(req, 'x-forwarded-proto')?.toLowerCase() === 'https';
}
