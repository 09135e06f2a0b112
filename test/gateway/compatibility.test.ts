import OpenAI from 'openai';
import { decodeHeaderValue } from 'tokenlay';
import { describe, expect, it } from 'vitest';
import { gatewayRig, hello, PROVIDER_KEY } from './support.js';

/** How the public @tokenlay/sdk 0.1 reads an answer's headers: every one it parses, as it parses it. */
function officialRead(h: Headers) {
  return {
    ruleId: h.get('x-tokenlay-rule-id') ?? undefined,
    ruleAction: h.get('x-tokenlay-rule-action') || 'allow',
    limitExceeded: h.get('x-tokenlay-limit-exceeded') === 'true',
    cost: parseFloat(h.get('x-tokenlay-cost') || '0'),
    tokensUsed: parseInt(h.get('x-tokenlay-tokens-used') || '0', 10),
    inputTokens: parseInt(h.get('x-tokenlay-input-tokens') || '0', 10),
    outputTokens: parseInt(h.get('x-tokenlay-output-tokens') || '0', 10),
    duration: parseInt(h.get('x-tokenlay-duration') || '0', 10),
    warnings: h.get('x-tokenlay-warnings') ? (JSON.parse(h.get('x-tokenlay-warnings')!) as string[]).map(decodeHeaderValue) : undefined,
  };
}

/** An OpenAI client configured exactly as the public @tokenlay/sdk 0.1 configures its own. */
function officialClient(gatewayUrl: string, tokenlayKey: string, providerBase: string, metadata: Record<string, string>, extraHeaders: Record<string, string>) {
  const headers: Record<string, string> = { 'x-tokenlay-provider-key': PROVIDER_KEY, 'x-tokenlay-provider-base': providerBase };
  for (const [k, v] of Object.entries(metadata)) headers[`x-tokenlay-${k}`] = v;
  Object.assign(headers, extraHeaders);
  // The SDK's base is `${tokenlayBaseUrl}/v1/` (trailing slash): buildTokenlayUrl(base, '').
  return new OpenAI({ apiKey: tokenlayKey, baseURL: `${gatewayUrl}/v1/`, timeout: 60_000, maxRetries: 2, defaultHeaders: headers });
}

describe('compatibility with the public @tokenlay/sdk 0.1 client', () => {
  it('takes its request shape unchanged and answers every §2 header it parses', async () => {
    const rules = { rules: [{ id: 'pro-users', if: { plan: 'pro' }, then: { limits: [{ type: 'requests', max: 100, window: 'day', per: 'user', warn_at: 0.01 }] } }] };
    const rig = await gatewayRig({ rules });
    const client = officialClient(rig.url, rig.key, rig.provider.base, { userId: 'ann', plan: 'pro' }, { user: 'bare-bob', 'x-custom-trace': 't-1' });
    const { data, response } = await client.chat.completions.create(hello, { headers: { 'x-tokenlay-feature': 'summarize' } }).withResponse();

    expect(data.choices[0]!.message.content).toBe('hello anonymous');
    const meta = officialRead(response.headers);
    expect(meta).toEqual({
      ruleId: 'pro-users',
      ruleAction: 'allow',
      limitExceeded: false,
      cost: expect.any(Number),
      tokensUsed: 15,
      inputTokens: 10,
      outputTokens: 5,
      duration: expect.any(Number),
      warnings: [expect.stringContaining('1% of the limit reached')],
    });
    expect(meta.cost).toBeGreaterThan(0);
    expect(response.headers.get('x-tokenlay-duration')).toMatch(/^\d+$/);

    // Upstream: the provider key as the provider's own auth; nothing of tokenlay.
    const [upstream] = rig.provider.requests;
    expect(upstream!.path).toBe('/v1/chat/completions');
    expect(upstream!.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(Object.keys(upstream!.headers).filter((h) => h.startsWith('x-tokenlay-'))).toEqual([]);
    expect(upstream!.headers.user).toBeUndefined();
    expect(upstream!.headers['x-custom-trace']).toBe('t-1');
    expect(JSON.stringify(upstream!.headers)).not.toContain(rig.key);

    // Attribution: the userId alias is the user (and wins over the bare header), the account is the key's.
    await rig.gateway.engine.flush();
    const [row] = await rig.gateway.store.ledger();
    expect(row!.fields).toEqual({ user: 'ann', plan: 'pro', feature: 'summarize', account: 'acme' });
  });

  it("reads the seed's bare user/org headers as fields when no x-tokenlay- header names them", async () => {
    const rig = await gatewayRig();
    const client = officialClient(rig.url, rig.key, rig.provider.base, {}, { user: 'carol', org: 'globex', tier: 'free' });
    await client.chat.completions.create(hello);
    await rig.gateway.engine.flush();
    const [row] = await rig.gateway.store.ledger();
    expect(row!.fields).toEqual({ user: 'carol', org: 'globex', account: 'acme' });
    expect(rig.provider.requests[0]!.headers.user).toBeUndefined();
    expect(rig.provider.requests[0]!.headers.org).toBeUndefined();
  });

  it('answers the official healthCheck (GET /v1/health with the bearer key) and refuses it without a valid key', async () => {
    const rig = await gatewayRig();
    const ok = await fetch(`${rig.url}/v1/health`, { headers: { Authorization: `Bearer ${rig.key}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok' });
    const bad = await fetch(`${rig.url}/v1/health`, { headers: { Authorization: 'Bearer tl_not-a-real-key-000000000000' } });
    expect(bad.status).toBe(401);
    const lb = await fetch(`${rig.url}/healthz`);
    expect(lb.status).toBe(200);
    expect(await lb.json()).toEqual({ status: 'ok' });
  });

  it('streams through with the §2 headers, and the SSE trailer before [DONE], to a plain OpenAI client', async () => {
    const rig = await gatewayRig();
    const client = officialClient(rig.url, rig.key, rig.provider.base, { user: 'dan' }, {});
    const { data: stream, response } = await client.chat.completions.create({ ...hello, stream: true }).withResponse();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('x-tokenlay-rule-action')).toBe('allow');
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('hello anonymous ');

    const raw = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers({ 'x-tokenlay-user': 'dan' }), body: JSON.stringify({ ...hello, stream: true }) });
    const body = await raw.text();
    const trailer = /^: x-tokenlay (.*)$/m.exec(body);
    expect(trailer).not.toBeNull();
    expect(JSON.parse(trailer![1]!)).toMatchObject({ rule_action: 'allow', input_tokens: 10, output_tokens: 5, tokens_used: 15 });
    expect(body.indexOf(': x-tokenlay')).toBeLessThan(body.indexOf('data: [DONE]'));
    // The usage chunk the gateway asked for on the caller's behalf is not passed on.
    expect(body).not.toContain('"usage"');
  });
});
