import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenlayHeaderError } from '../../src/errors.js';
import { fieldsToHeaders } from '../../src/protocol/headers.js';
import { runWithTokenlay, TokenlayOpenAI } from '../../src/index.js';
import { startProvider } from '../support/provider.js';

function refusal(fn: () => unknown): TokenlayHeaderError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenlayHeaderError);
    return err as TokenlayHeaderError;
  }
  throw new Error('expected a TokenlayHeaderError');
}

describe('field values that are not well-formed Unicode', () => {
  it("refuses '\\uD800' and '\\uDBFF' instead of sending both as U+FFFD under one counter", () => {
    for (const [value, code] of [['\uD800', 'D800'], ['\uDBFF', 'DBFF'], ['ab\uDC00', 'DC00'], ['\uD83D', 'D83D']] as const) {
      const error = refusal(() => fieldsToHeaders({ user: value }));
      expect(error.field).toBe('user');
      expect(error.limit).toBe('encoding');
      expect(error.message).toContain(`field "user" is not well-formed Unicode: a lone surrogate \\u${code}`);
    }
  });

  it('sends well-formed text, surrogate pairs included', () => {
    expect(fieldsToHeaders({ user: 'zoë 😀' })['x-tokenlay-user']).toBe('zo%C3%AB%20%F0%9F%98%80');
  });

  it('refuses exactly the values that UTF-8 cannot carry (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '😀', 'a', 'é', '%'), fc.string({ unit: 'binary', maxLength: 3 })), { maxLength: 8 }).map((parts) => parts.join('')),
        (value) => {
        const wellFormed = Buffer.from(value, 'utf8').toString('utf8') === value;
        try {
          fieldsToHeaders({ user: value });
          return wellFormed;
        } catch (err) {
          return !wellFormed && err instanceof TokenlayHeaderError && err.limit === 'encoding';
        }
      }),
    );
  });

  it('refuses the call before anything is sent from the client', async () => {
    const provider = await startProvider();
    try {
      const openai = new TokenlayOpenAI({ providerApiKey: 'sk-x', tokenlayKey: 'tl-x', tokenlayBaseUrl: provider.url, maxRetries: 0 });
      const call = runWithTokenlay({ user: 'a\uD800' }, () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
      await expect(call).rejects.toBeInstanceOf(TokenlayHeaderError);
      expect(provider.requests).toHaveLength(0);
    } finally {
      await provider.close();
    }
  });
});
