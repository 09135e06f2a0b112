/**
 * A caller's path never leaves the provider base it is allowed: dot segments, encoded dots,
 * encoded slashes and backslashes are resolved first, and a path that ends up outside the base is
 * refused with 400 before any connection, so the provider key never goes anywhere else and the
 * ledger never records an endpoint outside it.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { gatewayRig, hello } from '../gateway/support.js';

/** Sends a path exactly as written (fetch would resolve the dots itself before sending). */
function rawPost(url: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    // host/port/path given apart: a URL string would be parsed, and its dots resolved, by the client.
    const req = request({ hostname, port, path, method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ESCAPES = [
  '/v1/../stats',
  '/v1/%2e%2e/stats',
  '/v1/chat/../../x',
  '/v1/%2E%2E/stats',
  '/v1/.%2e/stats',
  '/v1/chat/..%2f..%2fx',
  '/v1/chat%2f..%2f..%2fx',
  '/v1/chat/%2e%2e%2F%2e%2e%2Fx',
  '/v1/chat\\..\\..\\x',
  '/v1/chat/%5c..%5c..%5cx',
  '/v1/..',
  '/v1/%2e%2e',
  '/v1/./../v1x/chat/completions',
  '/v1/chat/%252e%252e/%252e%252e/x',
  '/v1/..;/stats',
  '/v1/chat/..;x/..;y/stats',
  '/v1/',
];

describe('paths stay under the allowed base', () => {
  it('refuses every path that leaves the base with 400 before any connection, and the ledger records nothing', async () => {
    const rig = await gatewayRig();
    for (const path of ESCAPES) {
      const res = await rawPost(rig.url, path, rig.headers(), JSON.stringify(hello));
      expect(res.status, path).toBe(400);
      const { error } = JSON.parse(res.body);
      expect(error.code, path).toBe('path_not_allowed');
      expect(error.message, path).toContain('/v1/');
    }
    expect(rig.provider.requests.map((r) => r.path)).toEqual([]);
    await rig.gateway.engine.flush();
    expect(await rig.gateway.store.ledger()).toEqual([]);
  });

  it('keeps a provider base with a path of its own: nothing reaches a sibling path of that base', async () => {
    // An allowed base deeper than the host root: /v1/../ would otherwise reach /other on the same host.
    const rig = await gatewayRig();
    const deep = `${rig.provider.url}/v1/deep`;
    const scoped = await gatewayRig({ allowProviderBases: [deep] });
    for (const path of ['/v1/../chat/completions', '/v1/%2e%2e/chat/completions', '/v1/x/%2E%2E%2f%2e%2e/chat/completions']) {
      const res = await rawPost(scoped.url, path, scoped.headers({ 'x-tokenlay-provider-base': deep }), JSON.stringify(hello));
      expect(res.status, path).toBe(400);
    }
    expect(rig.provider.requests).toEqual([]);
    expect(scoped.provider.requests).toEqual([]);
  });

  it('forwards a path whose dots resolve inside the base, resolved, and records that endpoint', async () => {
    const rig = await gatewayRig();
    const res = await rawPost(rig.url, '/v1/models/../chat/./completions', rig.headers(), JSON.stringify(hello));
    expect(res.status).toBe(200);
    expect(rig.provider.requests.map((r) => r.path)).toEqual(['/v1/chat/completions']);
    await rig.gateway.engine.flush();
    expect((await rig.gateway.store.ledger()).map((r) => r.endpoint)).toEqual(['/v1/chat/completions']);
  });

  it('checks the provider URL once more as fetch parses it: what the URL parser would still resolve is refused', async () => {
    const { upstreamUrl } = await import('../../src/gateway/call-path.js');
    // The URL parser drops tabs and newlines, so ".\t." is ".." to fetch (Node's HTTP parser refuses them first).
    expect(upstreamUrl('https://api.openai.com/v1', '/v1/.\t./stats', '')).toBeUndefined();
    expect(upstreamUrl('https://api.openai.com/v1', '/v1/chat/completions', '?a=1')).toBe('https://api.openai.com/v1/chat/completions?a=1');
  });

  it('refuses a provider base whose own path hides a way out (encoded dots or slashes) before any connection', async () => {
    const rig = await gatewayRig();
    for (const base of [`${rig.provider.base}/..%2fstats`, `${rig.provider.base}/%2E%2E%2Fstats`, `${rig.provider.base}/x%5c..%5c..`, `${rig.provider.base}/..;/stats`]) {
      const res = await rawPost(rig.url, '/v1/chat/completions', rig.headers({ 'x-tokenlay-provider-base': base }), JSON.stringify(hello));
      expect(res.status, base).toBe(400);
      expect(JSON.parse(res.body).error.code, base).toBe('provider_base_not_allowed');
    }
    expect(rig.provider.requests).toEqual([]);
  });
});
