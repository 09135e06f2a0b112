/**
 * The provider's answer headers reach the caller only through an allowlist: a provider (or
 * anything on its path) cannot plant a cookie on the gateway's origin, clear its site data, pin
 * it to HSTS or speak for this hop's connection.
 */
import { describe, expect, it } from 'vitest';
import { listen } from '../support/http.js';
import { gatewayRig, hello, onCleanup } from '../gateway/support.js';

const HOSTILE: Record<string, string> = {
  'set-cookie': 'tokenlay_dashboard_key=evil; Path=/',
  'set-cookie2': 'tokenlay_dashboard_key=evil',
  'clear-site-data': '"cookies", "storage"',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'alt-svc': 'h3=":443"',
  'content-security-policy': "default-src 'none'",
  'access-control-allow-origin': '*',
  'access-control-allow-credentials': 'true',
  location: 'https://evil.example/',
  refresh: '0; url=https://evil.example/',
  link: '<https://evil.example/x.css>; rel=stylesheet',
  'proxy-authenticate': 'Basic realm="x"',
  'keep-alive': 'timeout=1000',
  upgrade: 'websocket',
  trailer: 'x-evil',
  'x-powered-by': 'stand-in',
  // The report is the gateway's word, never the provider's.
  'x-tokenlay-cost': '999',
  'x-tokenlay-warnings': '["pay more"]',
  'x-tokenlay-model': 'gpt-5-turbo-pro',
  server: 'stand-in/1.0',
};

const KEPT: Record<string, string> = {
  'x-request-id': 'req_provider_1',
  'openai-processing-ms': '42',
  'openai-version': '2020-10-01',
  'x-ratelimit-remaining-requests': '99',
  'x-ratelimit-reset-tokens': '6ms',
  'retry-after': '3',
};

function expectOnlyAllowed(headers: Headers, label: string): void {
  for (const name of Object.keys(HOSTILE)) {
    // keep-alive (Node's server) and the report (the engine) are the gateway's own: only the provider's values must not come through.
    if (name === 'keep-alive' || name.startsWith('x-tokenlay-')) expect(headers.get(name), `${label}: ${name}`).not.toBe(HOSTILE[name]);
    else expect(headers.has(name), `${label}: ${name}`).toBe(false);
  }
  expect(headers.getSetCookie(), label).toEqual([]);
  for (const [name, value] of Object.entries(KEPT)) expect(headers.get(name), `${label}: ${name}`).toBe(value);
}

describe('provider response headers', () => {
  it('never passes a cookie, hop-by-hop or origin-wide header to the caller: JSON, error and stream answers', async () => {
    const provider = await listen((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += String(c)));
      req.on('end', () => {
        const parsed = JSON.parse(body);
        const headers = { ...HOSTILE, ...KEPT, connection: 'x-hop', 'x-hop': 'hop-value' };
        if (parsed.user === 'fail') {
          res.writeHead(429, { ...headers, 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit', code: null, param: null } }));
          return;
        }
        if (parsed.stream) {
          res.writeHead(200, { ...headers, 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })}\n\n`);
          res.end('data: [DONE]\n\n');
          return;
        }
        res.writeHead(200, { ...headers, 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      });
    });
    onCleanup(() => provider.close());
    const base = `${provider.url}/v1`;
    const rig = await gatewayRig({ allowProviderBases: [base] });
    const call = (body: object) => fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ 'x-tokenlay-provider-base': base }), body: JSON.stringify(body) });

    const json = await call(hello);
    expect(json.status).toBe(200);
    expectOnlyAllowed(json.headers, 'json');
    expect(json.headers.has('x-hop')).toBe(false);
    expect(json.headers.get('content-type')).toBe('application/json');
    // The engine's own report headers still reach the caller.
    expect(json.headers.get('x-tokenlay-rule-action')).not.toBeNull();
    await json.text();

    const failed = await call({ ...hello, user: 'fail' });
    expect(failed.status).toBe(429);
    expectOnlyAllowed(failed.headers, 'error');
    await failed.text();

    const stream = await call({ ...hello, stream: true });
    expect(stream.status).toBe(200);
    expectOnlyAllowed(stream.headers, 'stream');
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    expect(await stream.text()).toContain('"content":"hi"');
  });
});
