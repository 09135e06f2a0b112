/**
 * The one test double: a small OpenAI-compatible provider on 127.0.0.1. It answers chat
 * completions (JSON and SSE), responses, embeddings, completions and models, records every
 * request it receives, and can be told per request to fail, stall or answer 429. With
 * `proxyAnswers` it also answers like a Tokenlay proxy (x-tokenlay-* headers and SSE trailer).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  /** 1 for the first time this exact body arrived, 2 for its first retry, … */
  attempt: number;
  at: number;
}

/** What to do with one request: answer normally, or fail in some way. */
export type Behavior =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  | { kind: 'stall' }
  | { kind: 'delay'; ms: number }
  /** Answers once `until` resolves (as `then` says, normally by default): the test decides when the provider has finished. */
  | { kind: 'hold'; until: Promise<unknown>; then?: Behavior }
  /** A streamed chat answer that sends its first `chunks` chunks and then nothing, never ending. */
  | { kind: 'stream-stall'; chunks: number }
  /**
   * The normal answer cut off after its first `bytes` bytes: with `drop` (default) the headers
   * promise the whole body and the connection is destroyed; with `'stall'` the rest never comes
   * and the connection stays open; with `false` the cut body is sent whole.
   */
  | { kind: 'cut'; bytes: number; drop?: boolean | 'stall' }
  /**
   * A server-sent-event answer in any provider's own shape (Anthropic's named events, Gemini's
   * `alt=sse`): each event written as `event:` (when named) and `data:` lines. With `cut`, the
   * connection is dropped after the last event instead of being ended.
   */
  | { kind: 'events'; events: Array<{ event?: string; data: unknown }>; cut?: boolean }
  /** A 200 answer of raw bytes (audio, images), as they are. */
  | { kind: 'bytes'; contentType: string; body: Uint8Array };

export interface ProviderOptions {
  /** Chooses a behaviour per request; default: answer normally. */
  behavior?: (req: Recorded) => Behavior | undefined;
  /** Also answer with Tokenlay proxy metadata (headers, and the SSE trailer). */
  proxyAnswers?: boolean;
  /** Tokens the stand-in reports, for every request or per request. */
  usage?: { prompt: number; completion: number } | ((req: Recorded) => { prompt: number; completion: number });
  /**
   * The `usage` object answered exactly as given, in any provider's shape and with any values
   * (negative, fractional, huge, strings): it replaces the one built from `usage`, in JSON answers
   * and in a stream's usage chunk.
   */
  rawUsage?: Record<string, unknown> | ((req: Recorded) => Record<string, unknown>);
  /** Answer with an `x-request-id` (`req_<n>`), as OpenAI does, or with this same one every time. Default: none. */
  requestIds?: boolean | string;
}

export interface Provider {
  url: string;
  /** `url + '/v1'` */
  base: string;
  requests: Recorded[];
  options: ProviderOptions;
  close(): Promise<void>;
  /**
   * Resolves once the stand-in has received `n` requests (since the last `reset`) that `which`
   * accepts (default: every request); rejects after `ms` (default 20 s) naming what it saw.
   */
  received(n: number, which?: (r: Recorded) => boolean, ms?: number): Promise<void>;
  /** Forgets the requests received and puts the options back as they were at start. */
  reset(): void;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The text the stand-in answers with: it names the user it saw, so tests can check the pairing. */
export function answerText(headers: Recorded['headers']): string {
  return `hello ${headers['x-tokenlay-user'] ?? 'anonymous'}`;
}

export async function startProvider(options: ProviderOptions = {}): Promise<Provider> {
  const initial = { ...options };
  const requests: Recorded[] = [];
  const seen = new Map<string, number>();
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const key = `${req.url}|${raw}`;
    const attempt = (seen.get(key) ?? 0) + 1;
    seen.set(key, attempt);
    const record: Recorded = { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body, attempt, at: Date.now() };
    requests.push(record);
    for (const check of [...waiters]) check();

    let behavior: Behavior = provider.options.behavior?.(record) ?? { kind: 'ok' };
    if (behavior.kind === 'stall') return; // never answers; the client's timeout must act
    if (behavior.kind === 'delay') await sleep(behavior.ms);
    if (behavior.kind === 'hold') {
      await behavior.until;
      behavior = behavior.then ?? { kind: 'ok' };
    }
    if (behavior.kind === 'stream-stall') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (let i = 0; i < behavior.chunks; i++) {
        res.write(`data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 0, model: record.body?.model ?? 'gpt-4o-mini', choices: [{ index: 0, delta: { content: `word${i} ` }, finish_reason: null }] })}\n\n`);
      }
      return; // the connection stays open and silent
    }
    if (behavior.kind === 'bytes') {
      res.writeHead(200, { 'content-type': behavior.contentType });
      res.end(behavior.body);
      return;
    }
    if (behavior.kind === 'events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (const e of behavior.events) {
        res.write(`${e.event ? `event: ${e.event}\n` : ''}data: ${JSON.stringify(e.data)}\n\n`);
        await sleep(1);
      }
      if (behavior.cut) res.socket?.destroy();
      else res.end();
      return;
    }
    if (behavior.kind === 'status') {
      res.writeHead(behavior.status, { 'content-type': 'application/json', ...behavior.headers });
      res.end(JSON.stringify(behavior.body ?? { error: { message: `stand-in failure ${behavior.status}`, type: 'server_error', code: null, param: null } }));
      return;
    }
    if (behavior.kind === 'cut') return answer(record, cutOff(res, behavior.bytes, behavior.drop ?? true));
    answer(record, res);
  };

  /** A response whose body stops after `bytes` bytes: the connection is destroyed there, or the cut body sent whole. */
  const cutOff = (res: ServerResponse, bytes: number, drop: boolean | 'stall'): ServerResponse => {
    const end = res.end.bind(res);
    const writeHead = res.writeHead.bind(res) as (status: number, headers: Record<string, string>) => ServerResponse;
    let headers: Record<string, string> = {};
    res.writeHead = ((status: number, h: Record<string, string>) => {
      headers = h;
      void status;
      return res;
    }) as typeof res.writeHead;
    res.end = ((body: string) => {
      const whole = Buffer.from(body);
      const part = whole.subarray(0, bytes);
      writeHead(200, { ...headers, 'content-length': String(drop ? whole.length : part.length) });
      if (!drop) return end(part);
      res.write(part, () => {
        if (drop !== 'stall') res.destroy();
      });
      return res;
    }) as typeof res.end;
    return res;
  };

  let answered = 0;
  const usage = (r?: Recorded) => {
    const given = provider.options.usage;
    return (typeof given === 'function' ? given(r!) : given) ?? { prompt: 10, completion: 5 };
  };
  const proxyHeaders = (r?: Recorded): Record<string, string> => ({
    ...(provider.options.requestIds ? { 'x-request-id': typeof provider.options.requestIds === 'string' ? provider.options.requestIds : `req_${++answered}` } : {}),
    ...(provider.options.proxyAnswers
      ? {
          'x-tokenlay-rule-id': 'stand-in-rule',
          'x-tokenlay-rule-action': 'allow',
          'x-tokenlay-limit-exceeded': 'false',
          'x-tokenlay-cost': '0.0015',
          'x-tokenlay-tokens-used': String(usage(r).prompt + usage(r).completion),
          'x-tokenlay-input-tokens': String(usage(r).prompt),
          'x-tokenlay-output-tokens': String(usage(r).completion),
          'x-tokenlay-duration': '12',
        }
      : {}),
  });

  const answer = (r: Recorded, res: ServerResponse) => {
    const path = r.path.split('?')[0];
    const model = r.body?.model ?? 'gpt-4o-mini';
    const text = answerText(r.headers);
    const u = usage(r);
    const raw = provider.options.rawUsage;
    const reported = (built: object) => (raw === undefined ? built : typeof raw === 'function' ? raw(r) : raw);
    if (r.method === 'GET' && path === '/v1/models') {
      return json(res, r, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'stand-in' }] });
    }
    if (r.method === 'GET' && path === '/v1/health') return json(res, r, { status: 'ok' });
    if (path === '/v1/embeddings') {
      const vector = [0.1, 0.2, 0.3];
      // The OpenAI SDK asks for base64 unless told otherwise, and decodes it itself.
      const embedding = r.body?.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return json(res, r, { object: 'list', model, data: [{ object: 'embedding', index: 0, embedding }], usage: reported({ prompt_tokens: u.prompt, total_tokens: u.prompt }) });
    }
    if (path === '/v1/completions') {
      return json(res, r, { id: 'cmpl-1', object: 'text_completion', created: 0, model, choices: [{ index: 0, text, finish_reason: 'stop', logprobs: null }], usage: reported({ prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion }) });
    }
    if (path === '/v1/responses') {
      const response = { id: 'resp_1', object: 'response', created_at: 0, model, status: 'completed', output: [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }], usage: reported({ input_tokens: u.prompt, output_tokens: u.completion, total_tokens: u.prompt + u.completion }) };
      return json(res, r, response);
    }
    if (path === '/v1/chat/completions') {
      if (r.body?.stream) return stream(res, r, model, text);
      return json(res, r, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 0,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: reported({ prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion }),
      });
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `stand-in has no ${r.method} ${path}`, type: 'invalid_request_error', code: null, param: null } }));
  };

  const json = (res: ServerResponse, r: Recorded, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json', ...proxyHeaders(r) });
    res.end(JSON.stringify(body));
  };

  const stream = async (res: ServerResponse, r: Recorded, model: string, text: string) => {
    const headers = proxyHeaders(r);
    delete headers['x-tokenlay-cost'];
    delete headers['x-tokenlay-input-tokens'];
    delete headers['x-tokenlay-output-tokens'];
    delete headers['x-tokenlay-tokens-used'];
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
    const chunk = (delta: object, extra: object = {}) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }));
    for (const word of text.split(' ')) {
      res.write(chunk({ content: word + ' ' }));
      await sleep(1);
    }
    const u = usage(r);
    if (r.body?.stream_options?.include_usage) {
      const raw = provider.options.rawUsage;
      const usageChunk = raw === undefined ? { prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion } : typeof raw === 'function' ? raw(r) : raw;
      res.write(`data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 0, model, choices: [], usage: usageChunk })}\n\n`);
    }
    if (provider.options.proxyAnswers) {
      res.write(`: x-tokenlay ${JSON.stringify({ cost: 0.0015, input_tokens: u.prompt, output_tokens: u.completion, tokens_used: u.prompt + u.completion, rule_action: 'allow', rule_id: 'stand-in-rule', limit_exceeded: false, warnings: [] })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const provider: Provider = {
    url,
    base: `${url}/v1`,
    requests,
    options,
    received(n, which = () => true, ms = 20_000) {
      return new Promise<void>((resolve, reject) => {
        const count = () => requests.filter(which).length;
        const check = () => {
          if (count() < n) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the stand-in received ${count()} of the ${n} requests awaited within ${ms} ms`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    reset() {
      requests.length = 0;
      seen.clear();
      provider.options = { ...initial };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return provider;
}

/**
 * One stand-in for a whole test file, reset after each test: `useProvider((p) => (provider = p))`.
 */
export function useProvider(assign: (provider: Provider) => void, options: ProviderOptions = {}): void {
  let provider: Provider | undefined;
  beforeAll(async () => {
    provider = await startProvider(options);
    assign(provider);
  });
  afterAll(() => provider?.close());
  afterEach(() => provider?.reset());
}
