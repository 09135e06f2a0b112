import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createEmbeddedFetch } from '../../src/engine/index.js';
import { TokenlayRulesError } from '../../src/policy/index.js';
import type { LedgerRow } from '../../src/store/types.js';
import { as, PROVIDER_KEY, rig, tempDir } from './support.js';

const SECRET_PROMPT = 'my-secret-prompt-4411';

describe('what reaches the provider and the ledger', () => {
  it('forwards the provider key and the body with the rule params, but no x-tokenlay header', async () => {
    const rules = { rules: [{ id: 'short', if: { plan: 'free' }, then: { model_params: { max_tokens: 64, temperature: 0 } } }] };
    const { openai, provider } = await rig({ rules, store: 'memory' });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }] }, as({ user: 'zoë', plan: 'free', feature: 'chat' }));
    const seen = provider.requests[0]!;
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(Object.keys(seen.headers).filter((h) => h.startsWith('x-tokenlay-'))).toEqual([]);
    expect(seen.body).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 64, temperature: 0 });
  });

  it('sends a key given as x-tokenlay-provider-key (as to a proxy) as the provider Authorization', async () => {
    const { openai, provider } = await rig({ store: 'memory' });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }, { headers: { 'x-tokenlay-provider-key': 'sk-other-key' } });
    expect(provider.requests[0]!.headers.authorization).toBe('Bearer sk-other-key');
    expect(provider.requests[0]!.headers['x-tokenlay-provider-key']).toBeUndefined();
  });

  it('writes a ledger row per call with fields, models, tokens, cost, rule and status, and no prompt, answer or key', async () => {
    const db = join(tempDir(), 'usage.db');
    const seen: LedgerRow[] = [];
    const rules = { rules: [{ id: 'all', if: {}, then: { model: 'gpt-4o' } }] };
    const { openai, fetch } = await rig({ rules, store: `sqlite:${db}`, onLedger: (row) => seen.push(row) });
    await openai.chat.completions.create(
      // No model: the rule routes the call, so the row has no requested model and gpt-4o as used.
      { messages: [{ role: 'user', content: SECRET_PROMPT }] } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming,
      { headers: { ...as({ user: 'zoë', org: 'acme' }).headers, 'x-tokenlay-provider-key': PROVIDER_KEY } },
    );
    await fetch.close();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      fields: { user: 'zoë', org: 'acme' },
      modelRequested: null,
      modelUsed: 'gpt-4o',
      endpoint: '/v1/chat/completions',
      inputTokens: 10,
      outputTokens: 5,
      cachedTokens: 0,
      ruleId: 'all',
      action: 'allow',
      status: 200,
      estimated: false,
    });
    expect(seen[0]!.cost).toBeGreaterThan(0);
    // Nothing of the prompt, the answer or the key is anywhere in the database file.
    const bytes = readFileSync(db).toString('latin1') + readFileSync(`${db}-wal`, { flag: 'a+' }).toString('latin1');
    for (const secret of [SECRET_PROMPT, 'hello', PROVIDER_KEY]) expect(bytes).not.toContain(secret);
    const rows = new Database(db, { readonly: true }).prepare('SELECT * FROM ledger').all();
    expect(JSON.stringify(rows)).not.toMatch(new RegExp(`${SECRET_PROMPT}|hello|${PROVIDER_KEY}`));
    expect(rows).toHaveLength(1);
  });
});

describe('rules at startup', () => {
  it('refuses a malformed rules file whole, listing every problem by path and naming the file', () => {
    const path = join(tempDir(), 'tokenlay.rules.yaml');
    writeFileSync(
      path,
      [
        'version: 0.1',
        'rules:',
        '  - id: free',
        '    if: { tier: free }',
        '    then:',
        '      limits:',
        '        - { type: requests, max: 100, window: week, per: user }',
        '  - id: pro',
        '    if: { tier: pro }',
        '    then:',
        '      on_limit_exceeded: { action: downgrade }',
      ].join('\n'),
    );
    let error: unknown;
    try {
      createEmbeddedFetch({ rules: path, store: 'memory' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TokenlayRulesError);
    expect((error as TokenlayRulesError).problems).toEqual([
      'rules[0].then.limits[0].window: expected one of minute|hour|day|month|year|total, or a rolling window last_<n>h (n from 1 to 168) or last_<n>d (n from 1 to 90), got "week"',
      'rules[1].then.on_limit_exceeded.downgrade_to: required when action is downgrade: name the model to answer from',
    ]);
    expect((error as Error).message).toContain(path);
  });

  it('loads a YAML rules file by path and applies it', async () => {
    const path = join(tempDir(), 'tokenlay.rules.yml');
    writeFileSync(path, 'rules:\n  - id: blocked-feature\n    if: { feature: { startsWith: "beta-" } }\n    then: { action: block }\n');
    const { openai } = await rig({ rules: path, store: 'memory' });
    const error = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }, as({ feature: 'beta-search' })).catch((e: unknown) => e);
    expect((error as { status: number }).status).toBe(403);
  });
});

describe('attribution headers over the limits', () => {
  it('answers 400 naming the field for a value over 256 characters, as a proxy must, without reaching the provider', async () => {
    const r = await rig({ store: 'memory' });
    const response = await r.fetch(`${r.provider.base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk', 'x-tokenlay-user': 'u'.repeat(300) },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_attribution_header', param: 'user' });
    expect(body.error.message).toMatch(/field "user" is 300 characters long; the limit is 256/);
    expect(r.provider.requests).toHaveLength(0);
  });
});
