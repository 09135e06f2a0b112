/**
 * The path of a call, as the provider will see it. `fetch` (the WHATWG URL parser) resolves `..`
 * and `%2e%2e` segments and reads `\` as `/`, and many servers decode `%2f` before routing: left
 * as sent, `/v1/../stats` would carry the caller's provider key to `/stats` on the provider's host.
 * So the gateway resolves the path itself, first, and refuses one that leaves `/v1/`.
 */

/** The prefix every proxied path has; it stands for the allowed provider base. */
export const CALL_PREFIX = '/v1/';

/** A resolved path under {@link CALL_PREFIX}, or why the path was refused. */
export type CallPath = { ok: true; path: string } | { ok: false; message: string };

// Encoded dot, slash and backslash: resolved like the characters themselves.
const ENCODED_SEPARATOR = /%(2e|2f|5c)/gi;
// The same, encoded twice: a server that decodes again would see a separator the gateway never did.
const ENCODED_TWICE = /%25(2e|2f|5c)/i;
// A path that is already resolved: segments without a dot, percent sign, backslash or semicolon,
// no empty one, no trailing slash. Resolving it would give it back as it is.
const PLAIN = /^\/v1(?:\/[^/.%\\;]+)+$/;

function refusal(raw: string, why: string): CallPath {
  return {
    ok: false,
    message: `tokenlay: the path ${JSON.stringify(raw.slice(0, 200))} ${why}; call an endpoint under ${CALL_PREFIX}, such as /v1/chat/completions, without "." or ".." segments.`,
  };
}

/**
 * Resolves `.` and `..` segments (`%2e` counts as `.`; `%2f`, `%5c` and `\` as `/`; `..;x` as `..`) in a path
 * that starts with `/v1/`, the way the URL parser and the provider would.
 * @returns the resolved path when it is still under `/v1/`, else a refusal message naming the path.
 */
export function resolveCallPath(raw: string): CallPath {
  if (PLAIN.test(raw)) return { ok: true, path: raw };
  if (ENCODED_TWICE.test(raw)) return refusal(raw, 'has an encoded dot or slash encoded twice (%252e, %252f, %255c)');
  const decoded = raw.replace(ENCODED_SEPARATOR, (m) => decodeURIComponent(m)).replace(/\\/g, '/');
  const segments: string[] = [];
  for (const segment of decoded.split('/')) {
    // Servlet containers read `..;x` as `..` (a path parameter): so does the gateway.
    const bare = segment.split(';')[0];
    if (segment === '' || bare === '.') continue;
    if (bare === '..') {
      if (segments.pop() === undefined) return refusal(raw, 'leaves the gateway\'s root');
      continue;
    }
    segments.push(segment);
  }
  const path = '/' + segments.join('/');
  if (path === CALL_PREFIX.slice(0, -1)) return refusal(raw, `names no endpoint under ${CALL_PREFIX}`);
  if (segments.length < 2 || !path.startsWith(CALL_PREFIX)) return refusal(raw, `leaves ${CALL_PREFIX} once its dots and encoded dots or slashes are resolved (it would reach ${JSON.stringify(path.slice(0, 200))})`);
  return { ok: true, path };
}

/**
 * The provider URL of a resolved call path: the allowed base, then the path after `/v1`. Checked
 * once more as `fetch` will parse it, so that nothing the resolution missed leaves the base.
 * @returns undefined when the URL would not be under `base`.
 */
export function upstreamUrl(base: string, path: string, search: string): string | undefined {
  const url = base + path.slice(CALL_PREFIX.length - 1) + search;
  const parsed = new URL(url);
  const root = new URL(base);
  const under = root.pathname.replace(/\/+$/, '') + '/';
  return parsed.origin === root.origin && parsed.pathname.startsWith(under) ? url : undefined;
}
