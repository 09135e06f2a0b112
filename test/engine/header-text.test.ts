import { describe, expect, it } from 'vitest';
import { getTokenlayMetadata } from '../../src/client/metadata.js';
import { as, hello, rig } from './support.js';

const flagged = (extra: object = {}) => ({
  rules: [{ id: 'free-tier', description: 'free tier — flagged', if: {}, then: { action: 'warn', ...extra } }],
});

describe('non-Latin-1 text in answer headers', () => {
  it('answers a warned call whose rule description has an em dash once, and getTokenlayMetadata reads it back', async () => {
    const { openai, chatCalls } = await rig({ rules: flagged(), store: 'memory' });
    const { data, response } = await openai.chat.completions.create(hello, as({ user: 'ana' })).withResponse();
    expect(data.choices[0]!.message.content).toBe('hello anonymous');
    expect(chatCalls()).toBe(1);
    // On the wire: printable ASCII only, as PROTOCOL.md §1 encodes field values.
    expect(response.headers.get('x-tokenlay-warnings')).toMatch(/^[\x21-\x7e]+$/);
    expect(getTokenlayMetadata(response)?.warnings).toEqual(['rule "free-tier" flags this call: free tier — flagged']);
  });

  it('streams a warned call with an em dash, frees its slot at the end, and lets the next call in', async () => {
    const rules = flagged({ limits: [{ type: 'concurrent', max: 1, per: 'user' }] });
    const { openai, chatCalls, fetch } = await rig({ rules, store: 'memory' });
    for (let i = 0; i < 3; i++) {
      const stream = await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'ana' }));
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text).toBe('hello anonymous ');
    }
    expect(chatCalls()).toBe(3);
    expect(await fetch.engine.store.ledger()).toHaveLength(3);
  });

  it('encodes a user named in a limit warning, a rule id and a downgraded model name, and decodes them', async () => {
    const rules = {
      rules: [
        {
          id: 'régime-ü',
          if: {},
          then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user', warn_at: 0.5 }], on_limit_exceeded: { action: 'downgrade', downgrade_to: 'modèle-léger' } },
        },
      ],
      prices: { 'modèle-léger': { input: 1, output: 1 } },
    };
    const { openai } = await rig({ rules, store: 'memory' });
    const first = await openai.chat.completions.create(hello, as({ user: '山田' })).withResponse();
    const m1 = getTokenlayMetadata(first.response)!;
    expect(m1.ruleId).toBe('régime-ü');
    expect(m1.warnings?.[0]).toContain('user=山田');
    const second = await openai.chat.completions.create(hello, as({ user: '山田' })).withResponse();
    const m2 = getTokenlayMetadata(second.response)!;
    expect(m2.model).toBe('modèle-léger');
    expect(m2.warnings?.[0]).toContain('downgraded to modèle-léger');
    for (const r of [first.response, second.response]) r.headers.forEach((value, name) => name.startsWith('x-tokenlay-') && expect(value).toMatch(/^[\x21-\x7e]+$/));
  });
});
