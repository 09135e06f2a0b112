/**
 * Slow clients cannot hold the gateway's sockets, memory and concurrent slots: headers, the body
 * and any silence (sending or reading) each have a limit, a flag and an env var, with defaults a
 * public endpoint can live with. Each case waits a bounded time, then fails.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { listen } from '../support/http.js';
import { gatewayRig, hello, onCleanup } from '../gateway/support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw connection to the gateway: what it received, and whether the gateway hung up. */
async function rawClient(url: string): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  onCleanup(() => void socket.destroy());
  await new Promise<void>((r) => socket.once('connect', r));
  let text = '';
  socket.on('data', (c: Buffer) => (text += String(c)));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => {});
  return { socket, received: () => text, closed };
}

/** Waits for `closed`, at most `ms`; says whether it came. */
async function within(closed: Promise<void>, ms: number): Promise<boolean> {
  return Promise.race([closed.then(() => true), sleep(ms).then(() => false)]);
}

function requestHead(rig: Awaited<ReturnType<typeof gatewayRig>>, length: number): string {
  const headers = { ...rig.headers(), host: 'gateway', 'content-length': String(length) };
  return `POST /v1/chat/completions HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}

describe('slow clients', () => {
  it('--header-timeout: headers sent a line at a time are cut off with 408', async () => {
    const rig = await gatewayRig({ headerTimeoutMs: 300 });
    const c = await rawClient(rig.url);
    c.socket.write('POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n');
    let hungUp = false;
    // One header line every 100 ms (never silent long enough to look idle), for at most 5 s.
    for (let i = 0; i < 50 && !hungUp; i++) {
      if (!c.socket.destroyed) c.socket.write(`x-drip-${i}: ${i}\r\n`);
      hungUp = await within(c.closed, 100);
    }
    expect(hungUp).toBe(true);
    expect(c.received()).toContain('408');
    // A connection that sends nothing at all is closed as well.
    const silent = await rawClient(rig.url);
    expect(await within(silent.closed, 5000)).toBe(true);
    expect(rig.provider.requests).toEqual([]);
  });

  it('--body-timeout: a body dripped a byte at a time, or a chunked body that never ends, is refused with 408 request_timeout, and nothing goes upstream', async () => {
    const rig = await gatewayRig({ bodyTimeoutMs: 400, idleTimeoutMs: 5000 });
    const body = JSON.stringify(hello);
    const chunked = requestHead(rig, 0).replace('content-length: 0', 'transfer-encoding: chunked');
    for (const [head, piece] of [[requestHead(rig, body.length), (i: number) => body[i]!], [chunked, () => '1\r\n \r\n']] as const) {
      const c = await rawClient(rig.url);
      c.socket.write(head);
      let hungUp = false;
      // A piece every 50 ms (never silent long enough to look idle), for at most 5 s.
      for (let i = 0; i < body.length - 1 && i < 100 && !hungUp; i++) {
        if (!c.socket.destroyed) c.socket.write(piece(i));
        hungUp = await within(c.closed, 50);
      }
      expect(hungUp || (await within(c.closed, 2000))).toBe(true);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
      expect(c.received()).toContain('"code":"request_timeout"');
      expect(c.received()).toContain('--body-timeout');
    }
    expect(rig.provider.requests).toEqual([]);
  });

  it('--idle-timeout: a body that stops half-way is refused with 408 request_timeout', async () => {
    const rig = await gatewayRig({ idleTimeoutMs: 300 });
    const body = JSON.stringify(hello);
    const c = await rawClient(rig.url);
    c.socket.write(requestHead(rig, body.length) + body.slice(0, 10));
    expect(await within(c.closed, 5000)).toBe(true);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(c.received()).toContain('--idle-timeout');
    expect(rig.provider.requests).toEqual([]);
  });

  it('--idle-timeout: a client that stops reading a stream is cut off, the provider stream cancelled and the call settled', async () => {
    // A provider that streams as fast as it may, up to 256 MiB, until its reader goes away.
    let providerClosed = false;
    // SSE comments: bytes that fill the sockets without costing the metering any parsing.
    const chunk = `: ${'x'.repeat(64 * 1024)}\n\n`;
    const provider = await listen(async (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.once('close', () => (providerClosed = true));
      for (let sent = 0; sent < 256 * 1024 * 1024 && !res.destroyed; sent += chunk.length) {
        if (!res.write(chunk)) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
      }
      res.end();
    });
    onCleanup(() => provider.close());
    const base = `${provider.url}/v1`;
    const rig = await gatewayRig({ idleTimeoutMs: 500, allowProviderBases: [base] });
    const body = JSON.stringify({ ...hello, stream: true });
    const c = await rawClient(rig.url);
    c.socket.pause(); // reads nothing from here on
    c.socket.write(requestHead(rig, body.length).replace(rig.provider.base, base) + body);
    let cut = false;
    // Filling the sockets' buffers takes a few MB through the gateway; at most 30 s.
    for (let i = 0; i < 300 && !cut; i++) {
      // Polled (bounded): a slow client is the behaviour; the gateway's cut shows only as the socket closing some time later.
      await sleep(100);
      cut = providerClosed;
    }
    expect(cut).toBe(true);
    await rig.gateway.engine.flush();
    const rows = await rig.gateway.store.ledger();
    expect(rows).toHaveLength(1);
    expect(rig.gateway.inFlight).toBe(0);
  }, 60_000);

  it('a slow provider is not a slow client: a call the provider answers after every client limit has passed is served', async () => {
    const rig = await gatewayRig({ headerTimeoutMs: 300, bodyTimeoutMs: 300, idleTimeoutMs: 300 }, { behavior: () => ({ kind: 'delay', ms: 2000 }) });
    for (const body of [hello, { ...hello, stream: true }]) {
      const res = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', headers: rig.headers(), body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('hello');
    }
  });

  it('lists the three timeouts in tokenlay gateway --help with their env vars and defaults', async () => {
    const { stdout } = await runCli(['gateway', '--help']);
    for (const [flag, env, ms] of [['header-timeout', 'TOKENLAY_HEADER_TIMEOUT', '15000'], ['body-timeout', 'TOKENLAY_BODY_TIMEOUT', '60000'], ['idle-timeout', 'TOKENLAY_IDLE_TIMEOUT', '30000']]) {
      const line = stdout.split('\n').find((l) => l.includes(`--${flag} MS`));
      expect(line, flag).toContain(env);
      expect(line, flag).toContain(`default: ${ms}`);
    }
  });
});
