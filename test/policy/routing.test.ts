import { describe, expect, it } from 'vitest';
import { checkModelName, evaluateRules, modelRequired, validateRules } from '../../src/policy/index.js';

const now = Date.parse('2026-05-17T10:30:00Z');
const doc = validateRules({
  version: '0.1',
  rules: [
    { id: 'free-tier', if: { tier: 'free' }, then: { model: 'gpt-3.5-turbo', limits: [{ type: 'requests', max: 100, window: 'day', per: 'user' }] } },
    { id: 'pro-tier', if: { tier: 'pro' }, then: { limits: [{ type: 'requests', max: 100, window: 'day', per: 'user' }] } },
  ],
});
const chat = '/v1/chat/completions';

describe('model routing', () => {
  it("uses an explicit model as asked: a free-tier rule with model gpt-3.5-turbo leaves a call for gpt-4o on gpt-4o", () => {
    const d = evaluateRules(doc, { fields: { plan: 'free', user: 'u1' }, model: 'gpt-4o', endpoint: chat }, now);
    expect(d.rule?.id).toBe('free-tier');
    expect(d).toMatchObject({ model: 'gpt-4o', modelChanged: false });
  });

  it("routes a call that names no model to the rule's model", () => {
    const d = evaluateRules(doc, { fields: { plan: 'free', user: 'u1' }, endpoint: chat }, now);
    expect(d).toMatchObject({ model: 'gpt-3.5-turbo', modelChanged: true });
  });

  it('leaves a call without a model unrouted when the matched rule sets none, and says how to route it', () => {
    const d = evaluateRules(doc, { fields: { plan: 'pro' }, endpoint: chat }, now);
    expect(d.model).toBeUndefined();
    expect(modelRequired(chat, d.model, d.rule)).toEqual({
      code: 'model_required',
      param: 'model',
      message:
        'tokenlay: the call to /v1/chat/completions names no model and no rule routes it. Rule "pro-tier" matched the call but sets no then.model. ' +
        'Pass model in the call (e.g. model: "gpt-4o-mini"), or route calls without one with a rule such as ' +
        '{ id: "default-model", if: {}, then: { model: "gpt-4o-mini" } } (priority below your other rules).',
    });
    expect(modelRequired(chat, undefined, null)?.message).toContain('No rule matched the call.');
  });

  it('requires a model on chat, completions, embeddings and responses, not on files or models', () => {
    for (const e of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses']) expect(modelRequired(e, undefined, null)?.code, e).toBe('model_required');
    for (const e of ['/v1/files', '/v1/models', '/v1/responses/resp_1/cancel', '/v1/audio/transcriptions']) expect(modelRequired(e, undefined, null), e).toBeUndefined();
  });
});

describe('checkModelName', () => {
  it('accepts a missing model and names of 1 to 256 characters', () => {
    expect(checkModelName(undefined)).toBeUndefined();
    expect(checkModelName('gpt-4o')).toBeUndefined();
    expect(checkModelName('m'.repeat(256))).toBeUndefined();
  });

  it('refuses a name over 256 characters as invalid_model, with a short preview and the fix', () => {
    const problem = checkModelName('x'.repeat(1_000_000));
    expect(problem).toEqual({
      code: 'invalid_model',
      param: 'model',
      message: `tokenlay: the model name is 1000000 characters long ("${'x'.repeat(40)}"…); a model name has 1 to 256 characters. Pass the provider's model name, e.g. "gpt-4o-mini".`,
    });
    expect(checkModelName('m'.repeat(257))?.code).toBe('invalid_model');
  });

  it('refuses an empty or non-string model', () => {
    expect(checkModelName('')?.message).toContain('the model name is empty');
    expect(checkModelName(42)?.message).toBe('tokenlay: model must be a string such as "gpt-4o-mini", got number. Pass the model\'s name, or leave model out to let a rule route the call.');
    expect(checkModelName(['gpt-4o'])?.message).toContain('got an array');
  });
});
