import { afterEach, describe, expect, it } from 'vitest';
import { getTokenlayMetadata, getTokenlayUsage, runWithTokenlay, TokenlayOpenAI } from '../../src/index.js';
import { listen, sleep, type Listening } from '../support/http.js';

const chunk = (content: string, extra = '') => `data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]${extra}}\n\n`;
const trailer = ': x-tokenlay {"rule_id":"pro","rule_action":"allow","limit_exceeded":false,"cost":0.00042,"tokens_used":30,"input_tokens":20,"output_tokens":10,"duration":5,"warnings":["über — ok"]}\n\n';

let server: Listening | undefined;
afterEach(async () => server?.close());

/** A proxy stand-in that writes the SSE answer in exactly the given pieces (text or bytes), one at a time. */
async function answering(pieces: Array<string | Uint8Array>): Promise<TokenlayOpenAI> {
  await server?.close();
  server = await listen((req: any, res: any) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-tokenlay-rule-id': 'pro', 'x-tokenlay-rule-action': 'allow', 'x-request-id': 'req_1' });
      for (const piece of pieces) {
        res.write(piece);
        await sleep(3); // separate reads on the client side
      }
      res.end();
    });
  });
  return new TokenlayOpenAI({ providerApiKey: 'sk-test', tokenlayKey: 'tl-test', tokenlayBaseUrl: server.url, maxRetries: 0 });
}

async function read(openai: TokenlayOpenAI) {
  return runWithTokenlay({ user: 'ana' }, async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const event of stream) text += event.choices[0]?.delta?.content ?? '';
    return { text, metadata: getTokenlayMetadata(stream), usage: getTokenlayUsage() };
  });
}

describe('reading the report of a streamed answer', () => {
  it('finds the trailer wherever the network cuts it, a multi-byte character included', async () => {
    const body = chunk('héllo ') + chunk('wörld') + trailer + 'data: [DONE]\n\n';
    const start = body.indexOf(': x-tokenlay');
    const cuts = [start - 1, start, start + 1, start + 5, body.indexOf('über') + 1, body.indexOf('über') + 2, body.indexOf('[DONE]') + 2, body.length - 1];
    for (const cut of cuts) {
      // Cut by bytes, not characters: a cut inside "ü" splits its two UTF-8 bytes.
      const bytes = Buffer.from(body);
      const at = Buffer.byteLength(body.slice(0, cut)) + (cut === body.indexOf('über') + 1 ? -1 : 0);
      const client = await answering([bytes.subarray(0, at), bytes.subarray(at)]);
      const { text, metadata, usage } = await read(client);
      expect(text, `cut at ${cut}`).toBe('héllo wörld');
      expect(metadata, `cut at ${cut}`).toMatchObject({ cost: 0.00042, inputTokens: 20, outputTokens: 10, warnings: ['über — ok'] });
      expect(usage, `cut at ${cut}`).toEqual({ calls: 1, cost: 0.00042, inputTokens: 20, outputTokens: 10 });
    }
  });

  it("rolls up the provider's usage chunk when there is no trailer, spaced JSON and usage:null chunks included", async () => {
    const openai = await answering([
      chunk('a', ',"usage":null'),
      chunk('b', ', "usage" : null'),
      'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[],"usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}\n\n',
      'data: [DONE]\n\n',
    ]);
    const { text, usage } = await read(openai);
    expect(text).toBe('ab');
    expect(usage).toMatchObject({ calls: 1, inputTokens: 7, outputTokens: 3 });
  });

  it('finds a usage chunk whose line arrives in two pieces', async () => {
    const usageLine = 'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n';
    const half = usageLine.indexOf('"usage"') + 3;
    const openai = await answering([chunk('a'), usageLine.slice(0, half), usageLine.slice(half), 'data: [DONE]\n\n']);
    const { usage } = await read(openai);
    expect(usage).toMatchObject({ calls: 1, inputTokens: 7, outputTokens: 3 });
  });
});

describe('line ends of a streamed answer (the SSE spec allows LF, CRLF and CR)', () => {
  const body = chunk('héllo ') + chunk('wörld') + trailer + 'data: [DONE]\n\n';
  for (const [name, end] of [['LF', '\n'], ['CRLF', '\r\n'], ['CR', '\r']] as const) {
    it(`reads the trailer of a stream whose lines end in ${name}, cut anywhere around the trailer`, async () => {
      const text = body.replace(/\n/g, end);
      const start = text.indexOf(': x-tokenlay');
      const done = text.indexOf('data: [DONE]');
      // Cuts just before, at and after the line ends on both sides of the trailer (between CR and LF included).
      for (const cut of [start - 2, start - 1, start, done - 3, done - 2, done - 1, done]) {
        const client = await answering([text.slice(0, cut), text.slice(cut)]);
        const { text: answer, metadata, usage } = await read(client);
        expect(answer, `${name}, cut at ${cut}`).toBe('héllo wörld');
        expect(metadata, `${name}, cut at ${cut}`).toMatchObject({ cost: 0.00042, inputTokens: 20, outputTokens: 10, warnings: ['über — ok'] });
        expect(usage, `${name}, cut at ${cut}`).toEqual({ calls: 1, cost: 0.00042, inputTokens: 20, outputTokens: 10 });
      }
    });
  }
});
