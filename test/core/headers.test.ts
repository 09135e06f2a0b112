import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeHeaderValue, encodeHeaderValue, fieldsToHeaders, headersToFields } from '../../src/protocol/headers.js';
import { TokenlayHeaderError } from '../../src/errors.js';

describe('header values', () => {
  it('leaves printable ASCII as it is', () => {
    expect(encodeHeaderValue('user_123-ABC.x@y')).toBe('user_123-ABC.x@y');
  });

  it('encodes space as %20, % as %25 and UTF-8 bytes as %XX', () => {
    expect(encodeHeaderValue('a b%c')).toBe('a%20b%25c');
    expect(encodeHeaderValue('東京')).toBe('%E6%9D%B1%E4%BA%AC');
  });

  it('round-trips any string, and the wire form is always printable ASCII', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const wire = encodeHeaderValue(value);
        expect(wire).toMatch(/^[\x21-\x7e]*$/);
        // Lone surrogates are not UTF-8; they travel as U+FFFD, as TextEncoder writes them.
        expect(decodeHeaderValue(wire)).toBe((value as any).toWellFormed());
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a malformed escape as it is when decoding', () => {
    expect(decodeHeaderValue('100%zz%20ok')).toBe('100%zz ok');
  });
});

describe('fields ⇄ headers', () => {
  it('turns fields into x-tokenlay-* headers, folding aliases', () => {
    expect(fieldsToHeaders({ user_id: 'u', tier: 'pro', team: 'a b' } as any)).toEqual({
      'x-tokenlay-user': 'u',
      'x-tokenlay-plan': 'pro',
      'x-tokenlay-team': 'a%20b',
    });
  });

  it('refuses a field name that is not [a-z0-9_-] or is reserved, naming it', () => {
    expect(() => fieldsToHeaders({ 'Bad Name': 'x' } as any)).toThrow(/field name "Bad Name" cannot be sent/);
    expect(() => fieldsToHeaders({ cost: '1' } as any)).toThrow(TokenlayHeaderError);
  });

  it('reads prefixed headers first and bare ones only where no prefixed header names the field', () => {
    const fields = headersToFields(
      { 'x-tokenlay-user': 'zo%C3%AB', user: 'bare-user', org: 'bare-org', 'x-tokenlay-tier': 'pro', 'x-tokenlay-provider-key': 'secret' },
      { bare: true },
    );
    expect(fields).toEqual({ user: 'zoë', org: 'bare-org', plan: 'pro' });
  });

  it('ignores bare headers unless asked', () => {
    expect(headersToFields({ user: 'bare' })).toEqual({});
  });
});
