/**
 * A provider stand-in that streams a long chat answer slowly and reports no usage, so a test can
 * cancel it part-way and see what was billed. (The shared stand-in's answers are two words long.)
 */
import { listen, type Listening } from '../support/http.js';

export interface SlowStream extends Listening {
  base: string;
  /** Chunks written to the socket so far. */
  written(): number;
  /** Resolves when the client has gone away. */
  closedByClient: Promise<void>;
}

export async function startSlowStream(opts: { chunks: number; word: string; everyMs: number }): Promise<SlowStream> {
  let written = 0;
  let onGone!: () => void;
  const closedByClient = new Promise<void>((r) => (onGone = r));
  const server = await listen((req: any, res: any) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const timer = setInterval(() => {
      if (i === opts.chunks) {
        clearInterval(timer);
        res.end('data: [DONE]\n\n');
        return;
      }
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: opts.word }, finish_reason: null }] })}\n\n`);
      written++;
      i++;
    }, opts.everyMs);
    res.on('close', () => {
      clearInterval(timer);
      onGone();
    });
  });
  return { ...server, base: `${server.url}/v1`, written: () => written, closedByClient };
}
