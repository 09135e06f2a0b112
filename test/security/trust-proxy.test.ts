/**
 * Behind a TLS-terminating proxy (`--trust-proxy`): the dashboard cookie is Secure when the
 * browser used https, and the log names the real client. Without the flag, forwarded headers are
 * only the client's say and change nothing. What a proxy says about the client never reaches the
 * provider.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { gatewayRig, hello } from '../gateway/support.js';

const FORWARDED = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.1, 203.0.113.7' };

async function signIn(url: string, key: string, headers: Record<string, string>): Promise<string> {
  const res = await fetch(`${url}/dashboard/signin`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams({ key }).toString() });
  expect(res.status).toBe(303);
  return res.headers.getSetCookie()[0] ?? '';
}

describe('--trust-proxy', () => {
  it('marks the dashboard cookie Secure when the proxy says the browser used https, and only then', async () => {
    const trusted = await gatewayRig({ trustProxy: true });
    expect(await signIn(trusted.url, trusted.key, FORWARDED)).toMatch(/;\s*Secure/i);
    expect(await signIn(trusted.url, trusted.key, { 'x-forwarded-proto': 'http' })).not.toMatch(/Secure/i);
    // A client that claims https through an http proxy: the nearest proxy's (last) value counts.
    expect(await signIn(trusted.url, trusted.key, { 'x-forwarded-proto': 'https, http' })).not.toMatch(/Secure/i);
    const direct = await gatewayRig();
    expect(await signIn(direct.url, direct.key, FORWARDED)).not.toMatch(/Secure/i);
  });

  it("logs the client's address from X-Forwarded-For (the proxy's own entry) for calls, streams and refusals; never sends it upstream", async () => {
    const rig = await gatewayRig({ trustProxy: true });
    const post = (body: object, extra: Record<string, string> = {}) =>
      fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ ...FORWARDED, ...extra }), body: JSON.stringify(body) }).then((r) => r.text());
    await post(hello);
    await post({ ...hello, stream: true });
    await post(hello, { 'x-tokenlay-provider-base': 'https://evil.example/v1' });
    await rig.gateway.engine.flush();
    const lines = rig.log.lines().filter((l) => l.msg === 'call' || l.msg === 'refused');
    expect(lines.map((l) => [l.msg, l.client])).toEqual([
      ['call', '203.0.113.7'],
      ['call', '203.0.113.7'],
      ['refused', '203.0.113.7'],
    ]);
    for (const r of rig.provider.requests) {
      for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'forwarded', 'x-real-ip']) expect(r.headers[name], name).toBeUndefined();
    }
  });

  it('without the flag, logs the socket peer and ignores X-Forwarded-For', async () => {
    const rig = await gatewayRig();
    await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers(FORWARDED), body: JSON.stringify(hello) }).then((r) => r.text());
    await rig.gateway.engine.flush();
    expect(rig.log.lines().filter((l) => l.msg === 'call').map((l) => l.client)).toEqual(['127.0.0.1']);
  });

  it('is in tokenlay gateway --help with its env var, and a bad TOKENLAY_TRUST_PROXY is refused with the fix', async () => {
    const help = await runCli(['gateway', '--help']);
    expect(help.stdout).toContain('--trust-proxy');
    expect(help.stdout).toContain('TOKENLAY_TRUST_PROXY');
    const bad = await runCli(['gateway', '--port', '0'], { TOKENLAY_TRUST_PROXY: 'maybe' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('TOKENLAY_TRUST_PROXY must be true or false; got "maybe"');
  });
});
