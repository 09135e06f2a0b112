/**
 * What the adapter tests share: the provider stand-in with a client pointed at it, real JWTs, and
 * a raw HTTP client that can hold one keep-alive socket or abort a request half-way.
 */
import { request as httpRequest, Agent, type IncomingHttpHeaders } from 'node:http';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { TokenlayOpenAI, type TokenlayUsage } from '../../src/index.js';
import { startProvider, type Provider } from '../support/provider.js';

export const SECRET = 'test-jwt-secret';

/** A real HS256 JWT, as the auth packages under test verify it. */
export const token = (claims: object) => jwt.sign(claims, SECRET, { algorithm: 'HS256' });
export const bearer = (claims: object) => ({ authorization: `Bearer ${token(claims)}` });

export const chat = (content = 'hi') => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

export interface Stack {
  provider: Provider;
  openai: TokenlayOpenAI;
  /** `x-tokenlay-user` of every call the provider received, in order (`null` when absent). */
  users(): Array<string | null>;
}

/** Starts one provider stand-in and a shared client for the test file; resets it after each test. */
export function useStack(): Stack {
  const stack = {
    users: () => stack.provider.requests.map((r) => (r.headers['x-tokenlay-user'] as string | undefined) ?? null),
  } as Stack;
  beforeAll(async () => {
    stack.provider = await startProvider();
    stack.openai = new TokenlayOpenAI({ providerApiKey: 'sk-p', tokenlayKey: 'tl-k', tokenlayBaseUrl: stack.provider.url, maxRetries: 0 });
  });
  afterAll(() => stack.provider.close());
  afterEach(() => stack.provider.reset());
  return stack;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json(): any;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  agent?: Agent;
  /** Destroys the request after this many ms (an aborted connection); resolves with status 0. */
  abortAfter?: number;
  /** Sends only the first half of the body, so the server is still reading it when the client aborts. */
  halfBody?: boolean;
}

/** One request over node:http, so that the socket and its keep-alive reuse are under the test's control. */
export function send(url: string, options: SendOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
    const req = httpRequest(url, { method: options.method ?? 'GET', headers, agent: options.agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
      res.on('error', () => resolve({ status: 0, headers: res.headers, body, json: () => undefined }));
    });
    req.on('error', (err) => (options.abortAfter !== undefined ? resolve({ status: 0, headers: {}, body: '', json: () => undefined }) : reject(err)));
    // Stays on the wall clock: the client leaves a given time into the request, mid-flight.
    if (options.abortAfter !== undefined) setTimeout(() => req.destroy(), options.abortAfter);
    if (options.halfBody && options.body !== undefined) {
      const bytes = Buffer.from(options.body);
      req.write(bytes.subarray(0, bytes.length >> 1));
      return;
    }
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** JSON POST helper for `send`. */
export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}, agent?: Agent) =>
  send(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), agent });

/** A keep-alive agent holding exactly one socket, so that consecutive requests share it. */
export const oneSocket = () => new Agent({ keepAlive: true, maxSockets: 1 });

/** Waits until `check` holds (polling), for effects that land after the response, like onFinish. */
export async function eventually(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The roll-up of two calls to the stand-in. */
export const TWO_CALLS: TokenlayUsage = { calls: 2, cost: 0, inputTokens: 20, outputTokens: 10 };

/**
 * The options scenario every adapter runs: `identify` wins over static `fields`, and
 * `setTokenlayContext` over both; the request's two calls are rolled up in the framework's place,
 * in `getTokenlayUsage()` and, once finished, in `onFinish`.
 */
export async function expectOptionStrength(
  stack: Stack,
  user: string,
  rollups: { framework: unknown; usage: unknown },
  finished: Array<{ usage: TokenlayUsage }>,
): Promise<void> {
  const h = stack.provider.requests[0].headers;
  expect([h['x-tokenlay-user'], h['x-tokenlay-project'], h['x-tokenlay-feature'], h['x-tokenlay-plan']]).toEqual([user, 'support-bot', 'from-identify', 'looked-up']);
  expect(rollups.framework).toEqual(TWO_CALLS);
  expect(rollups.usage).toEqual(TWO_CALLS);
  await eventually(() => finished.length === 1);
  expect(finished[0].usage).toEqual(TWO_CALLS);
}

/**
 * The failure sequence of the keep-alive leak tests: a thrown error and a 404 on one keep-alive
 * socket, a request aborted while its body arrives and one aborted while its handler waits on an
 * LLM call, then `POST /context` on the same socket. Returns what `/context` saw of a scope.
 */
export async function failThenReadContext(stack: Stack, url: string, auth: Record<string, string>): Promise<unknown> {
  const agent = oneSocket();
  try {
    expect((await send(url + '/boom', { headers: auth, agent })).status).toBe(500);
    expect((await send(url + '/missing', { headers: auth, agent })).status).toBe(404);
    const body = JSON.stringify({ pad: 'x'.repeat(50_000) });
    await send(url + '/slow', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body, halfBody: true, abortAfter: 30 });
    stack.provider.options.behavior = () => ({ kind: 'delay', ms: 100 });
    await send(url + '/slow', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}', abortAfter: 30 });
    return (await send(url + '/context', { method: 'POST', agent })).json().context;
  } finally {
    stack.provider.options.behavior = undefined;
    agent.destroy();
  }
}
