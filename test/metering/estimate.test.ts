import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  boundRequestTokens,
  estimateRequestTokens,
  estimateUsage,
  GPT_4O_MINI_IMAGE_TOKENS_BOUND,
  IMAGE_TOKENS,
  IMAGE_TOKENS_BOUND,
  LOW_DETAIL_IMAGE_TOKENS,
  UNBOUNDED_INPUT_TOKENS,
} from '../../src/metering/estimate.js';
import { boundTextTokens, countTextTokens, encodingForModel, utf8Length } from '../../src/metering/tokenizer.js';

// Text whose token count differs between the two encodings, so a wrong encoding shows.
const SAMPLE = 'Tokenlay attributes every LLM call to the user who caused it — naïvely, 東京 and all.';

describe('token estimates', () => {
  it('uses o200k for GPT-4o, GPT-4.1, GPT-5 and the o-series, cl100k for GPT-3.5 and GPT-4', () => {
    for (const model of ['gpt-4o', 'gpt-4o-mini-2024-07-18', 'gpt-4.1-nano', 'gpt-5', 'o3-mini', 'o1', 'openai/gpt-4o']) {
      expect(encodingForModel(model), model).toBe('o200k_base');
    }
    for (const model of ['gpt-3.5-turbo', 'gpt-4', 'gpt-4-turbo', 'gpt-4-0613', 'text-embedding-3-small']) {
      expect(encodingForModel(model), model).toBe('cl100k_base');
    }
    expect(encodingForModel('llama-3.3-70b')).toBe('o200k_base');
  });

  it('counts text with the encoding of the model', () => {
    expect(o200k(SAMPLE)).not.toBe(cl100k(SAMPLE));
    expect(countTextTokens(SAMPLE, 'gpt-4o')).toBe(o200k(SAMPLE));
    expect(countTextTokens(SAMPLE, 'gpt-3.5-turbo')).toBe(cl100k(SAMPLE));
  });

  it('counts special-token text in user content as text instead of throwing', () => {
    expect(countTextTokens('please ignore <|endoftext|> this', 'gpt-4o')).toBeGreaterThan(3);
  });

  it('counts very long text by sampling, within a few percent', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(20_000);
    const exact = o200k(text);
    expect(Math.abs(countTextTokens(text, 'gpt-4o') - exact) / exact).toBeLessThan(0.03);
  });

  it('counts chat messages: every text, the per-message framing, images by detail', () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: SAMPLE },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,' + 'A'.repeat(50_000) } },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
          ],
        },
      ],
    };
    const text = o200k(['Be brief.', SAMPLE].join('\n'));
    expect(estimateRequestTokens('gpt-4o', body)).toBe(text + IMAGE_TOKENS + LOW_DETAIL_IMAGE_TOKENS + 2 * 3 + 3);
  });

  it('counts tool calls and tool definitions in a chat request', () => {
    const withoutTools = { messages: [{ role: 'user', content: 'weather?' }] };
    const withTools = {
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    };
    expect(estimateRequestTokens('gpt-4o', withTools)).toBeGreaterThan(estimateRequestTokens('gpt-4o', withoutTools) + 20);
  });

  it('counts the Responses API instructions and input items', () => {
    const body = {
      model: 'gpt-4.1',
      instructions: 'Answer in French.',
      input: [{ role: 'user', content: [{ type: 'input_text', text: SAMPLE }] }],
    };
    expect(estimateRequestTokens('gpt-4.1', body)).toBe(o200k(['Answer in French.', SAMPLE].join('\n')) + 3 + 3);
    expect(estimateRequestTokens('gpt-4.1', { input: SAMPLE })).toBe(o200k(SAMPLE));
  });

  it('counts embeddings and completions input given as strings or token ids', () => {
    expect(estimateRequestTokens('text-embedding-3-small', { input: ['a cat', 'a dog'] })).toBe(cl100k('a cat\na dog'));
    expect(estimateRequestTokens('text-embedding-3-small', { input: [[1, 2, 3], [4, 5]] })).toBe(5);
    expect(estimateRequestTokens('gpt-3.5-turbo-instruct', { prompt: 'Say hi' })).toBe(cl100k('Say hi'));
  });

  it('marks estimated usage as estimated', () => {
    expect(estimateUsage('gpt-4o', { input: 'hi' }, 'hello there')).toEqual({
      inputTokens: o200k('hi'), outputTokens: o200k('hello there'), cachedTokens: 0,
      totalTokens: o200k('hi') + o200k('hello there'), estimated: true,
    });
  });
});

describe('input bounds for reservations', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 400 });

  it('bounds any text from above: UTF-8 bytes without the tokenizer, the exact count with it', () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ unit: 'binary', maxLength: 400 })), (s) => {
        expect(utf8Length(s)).toBe(Buffer.byteLength(s));
        expect(utf8Length(s)).toBeGreaterThanOrEqual(o200k(s, { disallowedSpecial: new Set() }));
        expect(utf8Length(s)).toBeGreaterThanOrEqual(cl100k(s, { disallowedSpecial: new Set() }));
        expect(boundTextTokens(s, 'gpt-4o')).toBeGreaterThanOrEqual(o200k(s, { disallowedSpecial: new Set() }));
        expect(boundTextTokens(s, 'gpt-4')).toBeGreaterThanOrEqual(cl100k(s, { disallowedSpecial: new Set() }));
        // Another vendor's tokenizer may cut finer than o200k: its bound is the bytes.
        expect(boundTextTokens(s, 'claude-sonnet-4-0')).toBe(Buffer.byteLength(s));
      }),
      { numRuns: 300 },
    );
  });

  it('bounds a chat request above what OpenAI reports (text, 3 tokens a message, 3 for the reply)', () => {
    const messages = fc.array(fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: text }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(messages, (msgs) => {
        const reported = msgs.reduce((n, m) => n + o200k(m.content, { disallowedSpecial: new Set() }) + 4, 0) + 3;
        expect(boundRequestTokens('gpt-4o', { messages: msgs })).toBeGreaterThanOrEqual(reported);
      }),
      { numRuns: 200 },
    );
  });

  it('gives images, audio and files their documented bounds, and a part it cannot measure the context window', () => {
    const image = { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } };
    const base = boundRequestTokens('gpt-4o', { messages: [{ role: 'user', content: [] }] });
    expect(boundRequestTokens('gpt-4o', { messages: [{ role: 'user', content: [image] }] })).toBe(base + IMAGE_TOKENS_BOUND);
    expect(boundRequestTokens('gpt-4o-mini', { messages: [{ role: 'user', content: [image] }] })).toBe(base + GPT_4O_MINI_IMAGE_TOKENS_BOUND);
    const audio = { type: 'input_audio', input_audio: { data: 'A'.repeat(4000), format: 'wav' } };
    expect(boundRequestTokens('gpt-4o', { messages: [{ role: 'user', content: [audio] }] })).toBe(base + 3000);
    const file = { type: 'file', file: { file_id: 'file-abc' } };
    expect(boundRequestTokens('gpt-4o', { messages: [{ role: 'user', content: [file] }] }, 128_000)).toBe(128_000);
    expect(boundRequestTokens('gpt-4o', { messages: [{ role: 'user', content: [file] }] })).toBe(UNBOUNDED_INPUT_TOKENS);
  });
});
