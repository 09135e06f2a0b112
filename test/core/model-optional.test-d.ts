/**
 * Type-level test, checked by `tsc --noEmit` (not run by vitest): on a `TokenlayOpenAI`,
 * `chat.completions.create` may leave out `model` (a rule routes the call), keeps the SDK's
 * overloads (a stream without model is still a stream), and still checks every other field.
 * On the plain `OpenAI` client, `model` stays required.
 */
import OpenAI from 'openai';
import type { Stream } from 'openai/streaming';
import { TokenlayOpenAI } from '../../src/index.js';

const assert = <T extends true>(): T => true as T;
type Is<A, B> = [A] extends [B] ? true : false;
type IsNot<A, B> = [A] extends [B] ? false : true;

declare const client: TokenlayOpenAI;
declare const plain: OpenAI;
const messages = [{ role: 'user' as const, content: 'hi' }];

export async function typed(): Promise<void> {
  const completion = await client.chat.completions.create({ messages });
  assert<Is<typeof completion, OpenAI.ChatCompletion>>();
  assert<IsNot<typeof completion, Stream<OpenAI.ChatCompletionChunk>>>();
  const stream = await client.chat.completions.create({ messages, stream: true });
  assert<Is<typeof stream, Stream<OpenAI.ChatCompletionChunk>>>();
  assert<IsNot<typeof stream, OpenAI.ChatCompletion>>();
  const explicit = await client.chat.completions.create({ model: 'gpt-4o', messages }).withResponse();
  assert<Is<typeof explicit.data, OpenAI.ChatCompletion>>();
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
