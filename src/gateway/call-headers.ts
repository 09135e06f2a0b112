import type { IncomingHttpHeaders } from 'node:http';
import { canonicalField, encodeHeaderValue, HEADER_PREFIX, WELL_KNOWN_FIELDS } from '../protocol/index.js';

/** The attribution field that names the calling key's account; set by the gateway, never by a caller. */
export const ACCOUNT_FIELD = 'account';
const ACCOUNT_HEADER = HEADER_PREFIX + ACCOUNT_FIELD;

// Never sent on: the tokenlay key, this hop's framing, the caller's cookies, and what a proxy in
// front says about the client (its address is none of the provider's business).
const DROPPED = new Set([
  'authorization', 'host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'proxy-authorization', 'cookie',
  'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'via',
  ACCOUNT_HEADER,
]);
const BARE = new Set<string>(WELL_KNOWN_FIELDS);

/**
 * The headers of one call as the engine takes them: the caller's, without the tokenlay key, with
 * the seed's bare `user`/`org`/… headers turned into `x-tokenlay-<field>` (where no prefixed
 * header names the field: docs/protocol.md §1) so that they are read as fields and not sent upstream,
 * and with the account of the calling key as the `account` field.
 */
export function callHeaders(incoming: IncomingHttpHeaders, account: string): Headers {
  const headers = new Headers();
  let bare: Array<[string, string]> | undefined;
  let prefixed: Set<string> | undefined;
  for (const name in incoming) {
    if (DROPPED.has(name)) continue;
    const raw = incoming[name];
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    if (BARE.has(name)) {
      (bare ??= []).push([name, value]);
      continue;
    }
    if (name.startsWith(HEADER_PREFIX)) (prefixed ??= new Set()).add(canonicalField(name.slice(HEADER_PREFIX.length)));
    headers.append(name, value);
  }
  if (bare) for (const [name, value] of bare) if (!prefixed?.has(name)) headers.set(HEADER_PREFIX + name, value);
  headers.set(ACCOUNT_HEADER, encodeHeaderValue(account));
  return headers;
}
