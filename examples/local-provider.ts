/**
 * A stand-in for an OpenAI-compatible provider, so the demo runs with no key and no network.
 * It answers chat completions (JSON, and SSE when `stream: true`) with fixed usage.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startLocalProvider(): Promise<{ base: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : {};
      const content = `(${body.model}) Hi! You asked: ${body.messages?.at(-1)?.content ?? ''}`;
      const usage = { prompt_tokens: 1200, completion_tokens: 800, total_tokens: 2000 };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'demo', object: 'chat.completion', created: 0, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (extra: object) => `data: ${JSON.stringify({ id: 'demo', object: 'chat.completion.chunk', created: 0, model: body.model, ...extra })}\n\n`;
      for (const word of content.split(' ')) res.write(chunk({ choices: [{ index: 0, delta: { content: word + ' ' }, finish_reason: null }] }));
      if (body.stream_options?.include_usage) res.write(chunk({ choices: [], usage }));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => server.close(() => r())) };
}
