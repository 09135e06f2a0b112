/** Hosts a plain-http notification URL may name: this machine only. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Why a notification URL cannot be posted to, or undefined when it can: it must be an absolute
 * `https:` URL, or `http:` to localhost (a local receiver). Webhook URLs carry secrets in their
 * path (Slack's do), so the reason never repeats the URL beyond its scheme and host.
 */
export function notifyUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'expected an absolute URL such as https://hooks.slack.com/services/… or http://localhost:8080/alerts';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && (LOOPBACK.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname))) return undefined;
  const where = `${url.protocol}//${url.host}`;
  if (url.protocol === 'http:') return `plain http is only allowed to localhost; use https for ${where}`;
  return `expected an https: URL (or http: to localhost), got a ${url.protocol} URL (${where})`;
}
