/**
 * Type-level test, checked by `tsc --noEmit` (not run by vitest): on a `TokenlayOpenAI`,
 * `chat.completions.create` may leave out `model` (a rule routes the call), keeps the SDK's
 * overloads (a stream without model is still a stream), and still checks every other field.
 * On the plain `OpenAI` client, `model` stays required.
 */
import type OpenAI from 'openai';
import type { Stream } from 'openai/streaming';
import type { TokenlayOpenAI } from '../../src/index.js';

const assert = <T extends true>(): T => true as T;
type Is<A, B> = [A] extends [B] ? true : false;
type IsNot<A, B> = [A] extends [B] ? false : true;

declare const client: TokenlayOpenAI;
declare const plain: OpenAI;
const messages = [{ role: 'user' as const, content: 'hi' }];

export async function typed(): Promise<void> {
  const _completion = await client.chat.completions.create({ messages });
  assert<Is<typeof _completion, OpenAI.ChatCompletion>>();
  assert<IsNot<typeof _completion, Stream<OpenAI.ChatCompletionChunk>>>();
  const _stream = await client.chat.completions.create({ messages, stream: true });
  assert<Is<typeof _stream, Stream<OpenAI.ChatCompletionChunk>>>();
  assert<IsNot<typeof _stream, OpenAI.ChatCompletion>>();
  const _explicit = await client.chat.completions.create({ model: 'gpt-4o', messages }).withResponse();
  assert<Is<typeof _explicit.data, OpenAI.ChatCompletion>>();
  // @ts-expect-error other fields are still checked
  await client.chat.completions.create({ messages, temperature: 'hot' });
  // @ts-expect-error model is still a string when given
  await client.chat.completions.create({ model: 42, messages });
  // @ts-expect-error the plain OpenAI client still requires model
  await plain.chat.completions.create({ messages });
  // The client is still an OpenAI client.
  const asOpenAI: OpenAI = client;
  void asOpenAI;
}
