import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { as, rig } from './support.js';

const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('expected the call to be refused'); }, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
const messages = [{ role: 'user' as const, content: 'Say hello.' }];
const rules = {
  rules: [
    { id: 'free-tier', if: { tier: 'free' }, then: { model: 'gpt-3.5-turbo' } },
    {
      id: 'pro-tier',
      if: { tier: 'pro' },
      then: { limits: [{ type: 'requests', max: 1, window: 'day', per: 'user' }], on_limit_exceeded: { action: 'downgrade', downgrade_to: 'gpt-4o-mini' } },
    },
  ],
};
// A call without model, as an app that lets the rules route writes it.
const noModel = { messages } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;

describe('model routing on the wire', () => {
  it("sends an explicit gpt-4o to the provider as gpt-4o although the free-tier rule's model is gpt-3.5-turbo", async () => {
    const { openai, provider } = await rig({ rules });
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o', messages }, as({ user: 'u1', plan: 'free' })).withResponse();
    expect(provider.requests.at(-1)!.body.model).toBe('gpt-4o');
    expect(data.model).toBe('gpt-4o');
    expect(response.headers.get('x-tokenlay-model')).toBeNull();
    expect(response.headers.get('x-tokenlay-rule-id')).toBe('free-tier');
  });

  it("routes a call without a model to the rule's model and says so in x-tokenlay-model", async () => {
    const { openai, provider } = await rig({ rules });
    const { response } = await openai.chat.completions.create(noModel, as({ user: 'u1', plan: 'free' })).withResponse();
    expect(provider.requests.at(-1)!.body.model).toBe('gpt-3.5-turbo');
    expect(response.headers.get('x-tokenlay-model')).toBe('gpt-3.5-turbo');
  });

  it('downgrades an explicit model once the limit is reached, and says so in x-tokenlay-model', async () => {
    const { openai, provider } = await rig({ rules });
    const first = await openai.chat.completions.create({ model: 'gpt-4o', messages }, as({ user: 'p1', plan: 'pro' })).withResponse();
    expect(first.response.headers.get('x-tokenlay-model')).toBeNull();
    const second = await openai.chat.completions.create({ model: 'gpt-4o', messages }, as({ user: 'p1', plan: 'pro' })).withResponse();
    expect(provider.requests.at(-1)!.body.model).toBe('gpt-4o-mini');
    expect(second.response.headers.get('x-tokenlay-model')).toBe('gpt-4o-mini');
    expect(second.response.headers.get('x-tokenlay-limit-exceeded')).toBe('true');
  });

  it('answers 400 model_required, saying how to route it, to a call without a model that no rule routes', async () => {
    const { openai, chatCalls } = await rig({ rules });
    const error = await fail(openai.chat.completions.create(noModel, as({ user: 'p2', plan: 'pro' })));
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ type: 'invalid_request_error', code: 'model_required', param: 'model' });
    expect((error.error as { message: string }).message).toMatch(/names no model and no rule routes it\. Rule "pro-tier" matched the call but sets no then\.model\. Pass model in the call/);
    const anonymous = await fail(openai.chat.completions.create(noModel));
    expect((anonymous.error as { message: string }).message).toContain('No rule matched the call.');
    expect(chatCalls()).toBe(0);
  });

  it('answers 400 model_required without rules at all', async () => {
    const { openai, chatCalls } = await rig({});
    const error = await fail(openai.chat.completions.create(noModel));
    expect(error.status).toBe(400);
    expect((error.error as { code: string }).code).toBe('model_required');
    expect(chatCalls()).toBe(0);
  });

  it('answers 400 invalid_model to a model name over 256 characters before anything else', async () => {
    const { openai, chatCalls } = await rig({ rules });
    const error = await fail(openai.chat.completions.create({ model: 'x'.repeat(1_000_000), messages }, as({ user: 'u1', plan: 'free' })));
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_model', param: 'model' });
    expect((error.error as { message: string }).message).toContain('is 1000000 characters long');
    expect(chatCalls()).toBe(0);
    const ok = await openai.chat.completions.create({ model: 'm'.repeat(256), messages }, as({ user: 'u1', plan: 'free' }));
    expect(ok.model).toBe('m'.repeat(256));
  });
});
