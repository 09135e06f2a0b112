/**
 * A local CloudEvents receiver that ingests as OpenMeter does: structured JSON mode, one event
 * (`application/cloudevents+json`) or a batch (`application/cloudevents-batch+json`) per request,
 * each event checked for the required attributes (specversion 1.0, id, source, type), deduplicated
 * on `source` + `id`, answered 204. An optional Bearer token is required when given.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen, type Listening } from './http.js';

export interface ReceivedEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: string;
  data?: Record<string, unknown>;
}

export interface CloudEventsReceiver {
  url: string;
  /** Events kept, one per source + id, in order of arrival. */
  events: ReceivedEvent[];
  /** Every event received, duplicates included. */
  received: ReceivedEvent[];
  /** Content types of the requests. */
  contentTypes: string[];
  /** From now on, store a request's events but leave it unanswered after `n` more requests (until {@link release}). */
  holdAfter(n: number): void;
  held(): number;
  release(): void;
  close(): Promise<void>;
}

export async function startCloudEventsReceiver(token?: string): Promise<CloudEventsReceiver> {
  const events: ReceivedEvent[] = [];
  const received: ReceivedEvent[] = [];
  const contentTypes: string[] = [];
  const seen = new Set<string>();
  let answerBeforeHold = Infinity;
  const waiting: Array<() => void> = [];
  const problem = (res: ServerResponse, status: number, detail: string) => {
    res.writeHead(status, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: status === 401 ? 'Unauthorized' : 'Bad Request', status, detail }));
  };

  const server: Listening = await listen((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return problem(res, 405, 'POST events here');
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) return problem(res, 401, 'missing or wrong API token');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      contentTypes.push(type);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return problem(res, 400, 'body is not JSON');
      }
      let batch: ReceivedEvent[];
      if (type === 'application/cloudevents-batch+json') {
        if (!Array.isArray(body)) return problem(res, 400, 'a batch is a JSON array of events');
        batch = body as ReceivedEvent[];
      } else if (type === 'application/cloudevents+json') {
        batch = [body as ReceivedEvent];
      } else return problem(res, 400, `unsupported content type ${type}`);
      for (const e of batch) {
        if (e?.specversion !== '1.0' || !e.id || !e.source || !e.type) return problem(res, 400, `event ${JSON.stringify(e?.id)} lacks specversion 1.0, id, source or type`);
      }
      for (const e of batch) {
        received.push(e);
        const key = `${e.source}\u0000${e.id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        events.push(e);
      }
      const answer = () => {
        res.writeHead(204);
        res.end();
      };
      if (answerBeforeHold <= 0) return void waiting.push(answer);
      answerBeforeHold -= 1;
      answer();
    });
  });
  return {
    url: `${server.url}/api/v1/events`,
    events,
    received,
    contentTypes,
    holdAfter(n) {
      answerBeforeHold = n;
    },
    held: () => waiting.length,
    release() {
      answerBeforeHold = Infinity;
      for (const go of waiting.splice(0)) go();
    },
    close: () => server.close(),
  };
}
