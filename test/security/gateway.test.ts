import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { listen } from '../support/http.js';
import { startProvider } from '../support/provider.js';
import { gatewayRig, hello, onCleanup, PROVIDER_KEY } from '../gateway/support.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** A TCP listener that only counts connections: proof that nothing was sent to it. */
async function connectionCounter(): Promise<{ base: string; connections: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}/v1`, connections: () => count };
}

const post = (url: string, headers: Record<string, string>, body: string | Buffer) => fetch(url, { method: 'POST', headers, body: body as BodyInit });

describe('gateway security', () => {
  it('refuses a provider base outside the allowlist with 400, saying how to allow it, before any connection', async () => {
    const rig = await gatewayRig();
    const outside = await connectionCounter();
    const res = await post(`${rig.url}/v1/chat/completions`, rig.headers({ 'x-tokenlay-provider-base': outside.base }), JSON.stringify(hello));
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as any;
    expect(error.code).toBe('provider_base_not_allowed');
    expect(error.param).toBe('x-tokenlay-provider-base');
    expect(error.message).toContain(outside.base);
    expect(error.message).toContain(`--allow-provider-base ${outside.base}`);
    expect(error.message).toContain('TOKENLAY_ALLOW_PROVIDER_BASE');
    expect(outside.connections()).toBe(0);
    // Look-alikes of an allowed base are not allowed: another port, a longer host, a sibling path.
    for (const base of [rig.provider.base.replace('/v1', '/v1x'), rig.provider.url.replace('127.0.0.1', '127.0.0.1.nip.io') + '/v1', 'file:///etc/passwd']) {
      const r = await post(`${rig.url}/v1/chat/completions`, rig.headers({ 'x-tokenlay-provider-base': base }), JSON.stringify(hello));
      expect(r.status, base).toBe(400);
    }
    expect(rig.chatCalls()).toBe(0);
  });

  it('allows only the https bases of the README providers by default', async () => {
    const { DEFAULT_PROVIDER_BASES, createAllowlist } = await import('../../src/gateway/index.js');
    expect(DEFAULT_PROVIDER_BASES).toContain('https://api.openai.com/v1');
    expect(DEFAULT_PROVIDER_BASES.every((b) => b.startsWith('https://'))).toBe(true);
    const list = createAllowlist(DEFAULT_PROVIDER_BASES);
    expect(list.check('https://api.openai.com/v1/').ok).toBe(true);
    expect(list.check('http://api.openai.com/v1').ok).toBe(false);
    expect(list.check('http://169.254.169.254/latest').ok).toBe(false);
    expect(list.check('https://user:pw@api.openai.com/v1').ok).toBe(false);
  });

  it('never follows a redirect from the provider: the target sees nothing, the caller gets 502', async () => {
    const target = await startProvider();
    onCleanup(() => target.close());
    const rig = await gatewayRig({}, { behavior: () => ({ kind: 'status', status: 307, headers: { location: `${target.base}/chat/completions` } }) });
    const res = await post(`${rig.url}/v1/chat/completions`, rig.headers(), JSON.stringify(hello));
    expect(res.status).toBe(502);
    const { error } = (await res.json()) as any;
    expect(error.message).toContain('redirect');
    expect(target.requests).toHaveLength(0);
    expect(rig.chatCalls()).toBe(1);
  });

  it('answers 401 with an OpenAI-style body for a missing, unknown or revoked tokenlay key', async () => {
    const rig = await gatewayRig();
    const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${rig.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-tokenlay-provider-key': PROVIDER_KEY, 'x-tokenlay-provider-base': rig.provider.base } });

    const missing = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hello) });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as any).error).toMatchObject({ code: 'missing_api_key', type: 'invalid_request_error', param: null, message: expect.stringContaining('Authorization: Bearer') });

    const unknownKey = 'tl_unknownunknownunknownunknownunknownXYZW';
    const unknown = await client(unknownKey).chat.completions.create(hello).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((unknown as any).code).toBe('invalid_api_key');
    expect((unknown as Error).message).not.toContain(unknownKey);
    expect((unknown as Error).message).toContain('***XYZW');

    await expect(client(rig.key).chat.completions.create(hello)).resolves.toBeDefined();
    expect(await rig.gateway.keys.revoke('acme')).toBe(true);
    const revoked = await client(rig.key).chat.completions.create(hello).catch((e: unknown) => e);
    expect(revoked).toBeInstanceOf(OpenAI.AuthenticationError);
    // A prefix of a real key, or the real key with one character changed, is not a key.
    const other = await rig.gateway.keys.create('other');
    for (const wrong of [other.slice(0, -1), other.slice(0, -1) + (other.endsWith('A') ? 'B' : 'A'), other + 'x', ` ${other}`.trim().toUpperCase()]) {
      const r = await fetch(`${rig.url}/v1/health`, { headers: { authorization: `Bearer ${wrong}` } });
      expect(r.status).toBe(401);
    }
    expect(rig.chatCalls()).toBe(1);
  });

  it('stores keys hashed: neither the tokenlay key nor the provider key is in any file, the log, or an answer', async () => {
    const rig = await gatewayRig({ rules: { rules: [{ id: 'cap', if: {}, then: { limits: [{ type: 'requests', max: 3, window: 'day', per: 'user' }] } }] } });
    const answers: string[] = [];
    const call = async (body: object, extra: Record<string, string> = {}) => {
      const res = await post(`${rig.url}/v1/chat/completions`, rig.headers({ 'x-tokenlay-user': 'eve', ...extra }), JSON.stringify(body));
      answers.push(JSON.stringify([...res.headers]) + (await res.text()));
    };
    await call(hello);
    await call({ ...hello, stream: true });
    await call(hello, { 'x-tokenlay-provider-base': 'https://evil.example/v1' });
    await call(hello);
    await call(hello); // blocked by the cap
    rig.provider.options.behavior = () => ({ kind: 'status', status: 500 });
    await call({ ...hello, user: 'x' }, { 'x-tokenlay-user': 'fay' });
    await rig.gateway.close();
    const files = filesUnder(rig.dir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = readFileSync(file).toString('latin1');
      expect(bytes.includes(PROVIDER_KEY), file).toBe(false);
      expect(bytes.includes(rig.key), file).toBe(false);
    }
    expect(rig.log.text().length).toBeGreaterThan(0);
    expect(rig.log.text()).not.toContain(PROVIDER_KEY);
    expect(rig.log.text()).not.toContain(rig.key);
    for (const a of answers) {
      expect(a).not.toContain(PROVIDER_KEY);
      expect(a).not.toContain(rig.key);
    }
  });

  it('answers 413 for a body over the configured size, and 20 MiB is the default', async () => {
    const small = await gatewayRig({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ ...hello, messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    const res = await post(`${small.url}/v1/chat/completions`, small.headers(), big);
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'request_too_large', message: expect.stringContaining('--max-body') });
    expect(small.chatCalls()).toBe(0);

    const rig = await gatewayRig();
    const over = Buffer.alloc(20 * 1024 * 1024 + 1, 0x20);
    const tooBig = await post(`${rig.url}/v1/chat/completions`, rig.headers(), over);
    expect(tooBig.status).toBe(413);
    const under = JSON.stringify({ ...hello, messages: [{ role: 'user', content: 'y'.repeat(1024 * 1024) }] });
    expect((await post(`${rig.url}/v1/chat/completions`, rig.headers(), under)).status).toBe(200);
  });

  it('answers 413 for a chunked body (no declared length) over the size, whether it arrives with its headers or after them', async () => {
    const rig = await gatewayRig({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ ...hello, messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    const send = (parts: string[]) =>
      new Promise<{ status: number; code: string }>((resolve, reject) => {
        const req = request(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: { ...rig.headers(), 'transfer-encoding': 'chunked' } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += String(c)));
          res.on('end', () => resolve({ status: res.statusCode!, code: (JSON.parse(text) as { error: { code: string } }).error.code }));
        });
        req.on('error', reject);
        // One write with the headers; or a second one once the connection is up, which may come after them.
        req.write(parts[0]);
        if (parts.length === 1) req.end();
        else req.once('socket', (socket) => socket.once('connect', () => setImmediate(() => req.end(parts[1]))));
      });
    expect(await send([big])).toEqual({ status: 413, code: 'request_too_large' });
    expect(await send([big.slice(0, 500), big.slice(500)])).toEqual({ status: 413, code: 'request_too_large' });
    expect(rig.chatCalls()).toBe(0);
  });

  it('answers 400 for malformed JSON, naming the problem, without calling the provider', async () => {
    const rig = await gatewayRig();
    const res = await post(`${rig.url}/v1/chat/completions`, rig.headers(), '{"model": "gpt-4o-mini", "messages": [}');
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as any;
    expect(error.code).toBe('invalid_json');
    expect(error.message).toContain('not valid JSON');
    expect(rig.chatCalls()).toBe(0);
  });

  it('answers 400 invalid_attribution_header for a field block over 8 KiB or a value over 256 characters', async () => {
    const rig = await gatewayRig();
    const many: Record<string, string> = {};
    for (let i = 0; i < 40; i++) many[`x-tokenlay-f${i}`] = 'v'.repeat(250);
    const res = await post(`${rig.url}/v1/chat/completions`, rig.headers(many), JSON.stringify(hello));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('invalid_attribution_header');
    const long = await post(`${rig.url}/v1/chat/completions`, rig.headers({ 'x-tokenlay-user': 'u'.repeat(257) }), JSON.stringify(hello));
    expect(long.status).toBe(400);
    expect(((await long.json()) as any).error).toMatchObject({ code: 'invalid_attribution_header', param: 'user' });
    expect(rig.chatCalls()).toBe(0);
  });

  it('does not let a caller set the account field: usage stays with the calling key', async () => {
    const rig = await gatewayRig();
    await post(`${rig.url}/v1/chat/completions`, rig.headers({ 'x-tokenlay-account': 'victim', 'x-tokenlay-user': 'mallory' }), JSON.stringify(hello));
    await rig.gateway.engine.flush();
    const rows = await rig.gateway.store.ledger();
    expect(rows.map((r) => r.fields.account)).toEqual(['acme']);
  });

  it('answers a missing provider key with 400 and sends nothing upstream', async () => {
    const rig = await gatewayRig();
    const headers = rig.headers();
    delete headers['x-tokenlay-provider-key'];
    const res = await post(`${rig.url}/v1/chat/completions`, headers, JSON.stringify(hello));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('missing_provider_key');
    expect(rig.provider.requests).toHaveLength(0);
  });
});

describe('upstream failures', () => {
  it('answers 502 for an unreachable provider, 504 on timeout, and passes the provider status and body through', async () => {
    const closed = await listen((_req, res) => res.end());
    const deadBase = `${closed.url}/v1`;
    await closed.close();
    const rig = await gatewayRig({ providerTimeoutMs: 300, allowProviderBases: [deadBase] });
    const res = await post(`${rig.url}/v1/chat/completions`, rig.headers({ 'x-tokenlay-provider-base': deadBase }), JSON.stringify(hello));
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'provider_unreachable', type: 'tokenlay_provider_error' });

    const slow = await gatewayRig({ providerTimeoutMs: 300 }, { behavior: () => ({ kind: 'stall' }) });
    const timedOut = await post(`${slow.url}/v1/chat/completions`, slow.headers(), JSON.stringify(hello));
    expect(timedOut.status).toBe(504);
    expect(((await timedOut.json()) as any).error.code).toBe('provider_timeout');

    const refusing = await gatewayRig({}, { behavior: () => ({ kind: 'status', status: 429, body: { error: { message: 'provider says slow down', type: 'rate_limit', code: 'rate_limited', param: null } } }) });
    const passed = await post(`${refusing.url}/v1/chat/completions`, refusing.headers(), JSON.stringify(hello));
    expect(passed.status).toBe(429);
    expect(((await passed.json()) as any).error.message).toBe('provider says slow down');
    // The gateway is still up after all of that.
    expect((await fetch(`${slow.url}/healthz`)).status).toBe(200);
  });
});

describe('streams', () => {
  it('ends a stream the provider leaves silent for --stream-idle-timeout, and settles what was delivered', async () => {
    // A provider that sends the stream's first chunk and then nothing.
    const silent = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] })}\n\n`);
    });
    onCleanup(() => silent.close());
    const rig = await gatewayRig({ streamIdleTimeoutMs: 300, allowProviderBases: [`${silent.url}/v1`] });
    const started = Date.now();
    const res = await post(`${rig.url}/v1/chat/completions`, rig.headers({ 'x-tokenlay-provider-base': `${silent.url}/v1`, 'x-tokenlay-user': 'ann' }), JSON.stringify({ ...hello, stream: true }));
    const text = await res.text();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(text).toContain('"content":"Hel"');
    expect(text).toContain('sent nothing for 300 ms');
    await rig.gateway.engine.flush();
    const rows = await rig.gateway.store.ledger();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.fields.user).toBe('ann');
  });
});
