import { getTokenlayUsage } from 'tokenlay';
import { withTokenlay } from 'tokenlay/next';
import { openai } from '../../../lib/openai.js';
import { readSession } from '../../../lib/session.js';

/**
 * `{ prompt }` → `{ text, model, usage }`; with `stream: true`, server-sent events: `data:` with
 * each piece of text, then an `event: usage` with what the request's calls cost.
 *
 * withTokenlay gives every LLM call made while handling the request, and while its stream is
 * being sent, the fields `identify` reads from it. A call refused by a plan's limit is answered
 * as a 429 with the rule's message, without a try/catch here.
 */
export const POST = withTokenlay(
  async (request) => {
    if (!(await readSession(request))) return Response.json({ error: { message: 'Sign in first: POST /api/login.' } }, { status: 401 });
    const { prompt, stream } = await request.json();
    const messages = [{ role: 'user', content: prompt }];
    if (!stream) {
      const completion = await openai().chat.completions.create({ messages });
      return Response.json({ text: completion.choices[0].message.content, model: completion.model, usage: getTokenlayUsage() });
    }
    // Awaited here, so a refused call is still a 429 rather than a broken stream.
    const chunks = await openai().chat.completions.create({ messages, stream: true });
    const encoder = new TextEncoder();
    const event = (name, data) => encoder.encode(`${name === 'message' ? '' : `event: ${name}\n`}data: ${JSON.stringify(data)}\n\n`);
    const pieces = chunks[Symbol.asyncIterator]();
    return new Response(
      new ReadableStream({
        async pull(controller) {
          const { value, done } = await pieces.next();
          if (done) {
            // The stream's own usage has been metered by now: it is in the roll-up.
            controller.enqueue(event('usage', getTokenlayUsage()));
            return controller.close();
          }
          const text = value.choices[0]?.delta?.content;
          if (text) controller.enqueue(event('message', { text }));
        },
        // The reader went away: stop the model too; the call is settled for what was sent.
        cancel: () => chunks.controller.abort(),
      }),
      { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } },
    );
  },
  { identify: readSession },
);
