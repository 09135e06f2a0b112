import { decodeHeaderValue } from './encoding.js';

/** Answer headers as SDKs keep them: a `Headers` (openai 5+), or a plain object (openai 4, the Vercel AI SDK). */
export type HeaderBag = Headers | Record<string, string | string[] | null | undefined> | undefined;

/** @internal One header of a {@link HeaderBag}; a repeated one gives its first value. */
export function headerOf(headers: HeaderBag, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | null | undefined>)[name];
  return (Array.isArray(value) ? value[0] : value) ?? undefined;
}

/** @internal A text header of the report, decoded (docs/protocol.md §1: non-ASCII text is percent-encoded). */
export function decodedHeaderOf(headers: HeaderBag, name: string): string | undefined {
  const value = headerOf(headers, name);
  return value === undefined ? undefined : decodeHeaderValue(value);
}
