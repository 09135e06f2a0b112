/**
 * A local stand-in for an OpenAI-compatible provider, so that the demo runs with no key and no
 * network. It answers `POST /v1/chat/completions`, as JSON or as SSE (`stream: true`), with a
 * canned answer and the usage a real provider would report for it: input tokens grow with the
 * prompt, the answer grows with the question (up to `max_tokens`), and it takes a little time.
 */
import { createServer } from 'node:http';

/** A rough tokenizer: about four characters a token, as OpenAI's own rule of thumb says. */
const tokensOf = (text) => Math.ceil(text.length / 4);

const ANSWER =
  'Here is what I found. The short version: it depends on your usage pattern, but the numbers ' +
  'above should give you a good starting point. I would start with the cheaper option, measure ' +
  'for a week, and revisit the decision once you have real traffic. Let me know if you want me ' +
  'to go through the details step by step, with the trade-offs of each approach spelled out. ';

/** @param {{ messages?: Array<{ content?: unknown }>, max_tokens?: number, max_completion_tokens?: number }} body */
function usageFor(body) {
  const prompt = (body.messages ?? []).map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? ''))).join('\n');
  // Each message costs a few tokens of framing on top of its text, as with OpenAI's chat format.
  const input = tokensOf(prompt) + 4 * (body.messages?.length ?? 0);
  const cap = body.max_completion_tokens ?? body.max_tokens ?? 512;
  const output = Math.min(cap, 30 + Math.floor(input / 4));
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {import('node:http').IncomingMessage} req */
async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

/**
 * Starts the stand-in on a free port of 127.0.0.1.
 * @returns {Promise<{ base: string, close: () => Promise<void> }>}
 */
export async function startStandIn() {
  const server = createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `the demo's stand-in answers only POST /v1/chat/completions, not ${req.method} ${req.url}`, type: 'invalid_request_error' } }));
      return;
    }
    let body;
    try {
      body = await readJson(req);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'the request body is not JSON', type: 'invalid_request_error' } }));
      return;
    }
    const usage = usageFor(body);
    const text = ANSWER.repeat(Math.ceil((usage.completion_tokens * 4) / ANSWER.length)).slice(0, usage.completion_tokens * 4);
    const id = `chatcmpl-demo-${Date.now()}`;
    const created = Math.floor(Date.now() / 1000);
    // Time to first token, then a steady pace: about what a fast hosted model does, scaled down.
    await sleep(40);
    if (!body.stream) {
      await sleep(usage.completion_tokens / 4);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, object: 'chat.completion', created, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: 'stop', logprobs: null }], usage }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (choices, extra = {}) => res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices, ...extra })}\n\n`);
    send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
    for (let at = 0; at < text.length; at += 64) {
      send([{ index: 0, delta: { content: text.slice(at, at + 64) }, finish_reason: null }]);
      await sleep(4);
    }
    send([{ index: 0, delta: {}, finish_reason: 'stop' }]);
    if (body.stream_options?.include_usage) send([], { usage });
    res.end('data: [DONE]\n\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    base: `http://127.0.0.1:${port}/v1`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
