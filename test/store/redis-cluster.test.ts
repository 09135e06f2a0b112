import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis, type Cluster } from 'ioredis';
import { createStore } from '../../src/store/index.js';
import { createRedisStore } from '../../src/store/redis.js';
import { connectRedis, redisConnection } from '../../src/store/redis-driver.js';
import { check, counterStoreContract } from './contract.js';

// A Redis Cluster of this file's own: three masters on free ports (never the machine's 6379),
// no persistence, killed after the file.
const run = promisify(execFile);
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const LEASE = { now: T0, leaseMs: 30_000 };

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(taken: number[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.includes(port) || port === 6379) continue;
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

/** Polls `ok` every 100 ms until it holds, for at most `ms`; throws `what` when it never does. */
async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  await vi.waitFor(
    async () => {
      if (!(await ok().catch(() => false))) throw new Error(`${what} within ${ms} ms`);
    },
    { timeout: ms, interval: 100 },
  );
}

const ports: number[] = [];
const procs: ChildProcess[] = [];
let dir = '';
let clusterUrl = '';
let n = 0;
const prefix = () => `tokenlay-test:${n++}:`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-cluster-'));
  for (let i = 0; i < 3; i++) ports.push(await clusterPort(ports));
  for (const port of ports) {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--save', '', '--appendonly', 'no', '--dir', dir];
    procs.push(spawn('/usr/bin/redis-server', args, { stdio: 'ignore' }));
  }
  for (const port of ports) {
    await until(`redis-server on ${port} did not answer PING`, 10_000, async () => (await run('/usr/bin/redis-cli', ['-p', String(port), 'ping'], { timeout: 2000 })).stdout.trim() === 'PONG');
  }
  await run('/usr/bin/redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
  for (const port of ports) {
    await until(`node ${port} did not reach cluster_state:ok`, 20_000, async () => (await run('/usr/bin/redis-cli', ['-p', String(port), 'cluster', 'info'], { timeout: 2000 })).stdout.includes('cluster_state:ok'));
  }
  // Two startup nodes of three: the third is discovered.
  clusterUrl = `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
}, 60_000);

afterAll(async () => {
  await Promise.all(
    procs.map(
      (proc) =>
        new Promise<void>((resolve) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
          proc.once('exit', () => resolve());
          proc.kill('SIGKILL');
        }),
    ),
  );
  if (dir) rmSync(dir, { recursive: true, force: true });
});

counterStoreContract('Redis Cluster', () => createRedisStore({ url: clusterUrl, prefix: prefix() }));

/** Each master's port and a plain client on it. */
function masters(): { port: number; redis: Redis }[] {
  return ports.map((port) => ({ port, redis: new Redis({ port, host: '127.0.0.1', lazyConnect: false }) }));
}

/** Script runs per node since its stats were reset: EVALSHA and EVAL calls, and failed ones. */
async function scriptCalls(redis: Redis): Promise<{ calls: number; failed: number }> {
  const info = await redis.info('commandstats');
  let calls = 0;
  let failed = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+),.*?failed_calls=(\d+)/gm)) {
    calls += Number(m[2]);
    failed += Number(m[3]);
  }
  return { calls, failed };
}

describe('Redis Cluster store', () => {
  it('puts accounts with different hash tags on different shards, each admission one script on one shard', async () => {
    const p = prefix();
    const accounts = Array.from({ length: 12 }, (_, i) => `acct-${i}`);
    const stores = accounts.map((account) => createRedisStore({ url: clusterUrl, prefix: p, account }));
    const nodes = masters();
    try {
      // Several counters per call (metrics, keys, windows): all of one account, so one slot.
      const checks = [
        check({ key: 'user=alice', max: 100 }),
        check({ key: 'user=alice', metric: 'tokens', amount: 50, max: 10_000 }),
        check({ key: 'team=core', metric: 'cost', amount: 0.25, max: 100, bucket: 0, expiresAt: null }),
        check({ key: 'user=alice', metric: 'concurrent', max: 10, bucket: 0, expiresAt: null }),
      ];
      // Warm up: each node learns the scripts, then the counts start from zero.
      for (const store of stores) {
        const r = await store.reserve(checks, LEASE);
        if (!r.ok) throw new Error('expected admission');
        await store.release(r.id);
      }
      for (const { redis } of nodes) await redis.config('RESETSTAT');

      const ids: string[] = [];
      for (const store of stores) {
        const r = await store.reserve(checks, LEASE);
        expect(r.ok).toBe(true);
        if (r.ok) ids.push(r.id);
      }
      const perNode = await Promise.all(nodes.map(({ redis }) => scriptCalls(redis)));
      // One script per admission, none failed (a CROSSSLOT would fail it), spread over shards.
      expect(perNode.reduce((sum, s) => sum + s.calls, 0)).toBe(accounts.length);
      expect(perNode.reduce((sum, s) => sum + s.failed, 0)).toBe(0);
      expect(perNode.filter((s) => s.calls > 0).length).toBe(3);

      // Every key of an account is on one node, under its hash tag; accounts use all three nodes.
      const nodeOf = new Map<string, Set<number>>();
      for (const { port, redis } of nodes) {
        for (const key of await redis.keys(`${p}*`)) {
          const account = /^.*?\{([^}]+)\}:/.exec(key)![1]!;
          expect(key.startsWith(`${p}{${account}}:`)).toBe(true);
          if (!nodeOf.has(account)) nodeOf.set(account, new Set());
          nodeOf.get(account)!.add(port);
        }
      }
      expect([...nodeOf.keys()].sort()).toEqual([...accounts].sort());
      for (const [, where] of nodeOf) expect(where.size).toBe(1);
      expect(new Set([...nodeOf.values()].map((s) => [...s][0])).size).toBe(3);

      // Settle and read stay one script on that shard too.
      await Promise.all(stores.map((store, i) => store.settle(ids[i]!, { requests: 1, tokens: 40, cost: 0.2 })));
      for (const store of stores) {
        expect(await store.read('user=alice', 'tokens', T0, T0)).toEqual({ used: 40, reserved: 0 });
        expect(await store.read('team=core', 'cost', 0, T0)).toEqual({ used: 0.2, reserved: 0 });
      }
      const after = await Promise.all(nodes.map(({ redis }) => scriptCalls(redis)));
      expect(after.reduce((sum, s) => sum + s.failed, 0)).toBe(0);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      for (const { redis } of nodes) redis.disconnect();
    }
  });

  it('admits exactly N of many concurrent calls from several stores, on each of several shards', async () => {
    const p = prefix();
    const N = 5;
    const accounts = ['acct-0', 'acct-1', 'acct-2', 'acct-3'];
    // Three "instances" per account, as three gateways on one Cluster.
    const stores = accounts.flatMap((account) => [0, 1, 2].map(() => ({ account, store: createRedisStore({ url: clusterUrl, prefix: p, account }) })));
    try {
      const c = check({ key: 'user=bob', metric: 'concurrent', max: N, bucket: 0, expiresAt: null });
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => i).flatMap((i) => accounts.map((account) => {
          const mine = stores.filter((s) => s.account === account);
          return mine[i % mine.length]!.store.reserve([c], LEASE).then((r) => ({ account, ok: r.ok }));
        })),
      );
      for (const account of accounts) {
        expect(results.filter((r) => r.account === account && r.ok)).toHaveLength(N);
        const reader = stores.find((s) => s.account === account)!.store;
        expect(await reader.read('user=bob', 'concurrent', 0, T0)).toEqual({ used: 0, reserved: N });
      }
    } finally {
      await Promise.all(stores.map(({ store }) => store.close()));
    }
  });

  it('opens from a createStore URL with a password, prefix and account', async () => {
    // The nodes have no password: give the default user one on each, for this test only.
    const nodes = masters();
    try {
      for (const { redis } of nodes) await redis.config('SET', 'requirepass', 's3cret:p@ss');
      const p = prefix();
      const store = createStore({ ledger: 'memory', store: `redis+cluster://:${encodeURIComponent('s3cret:p@ss')}@127.0.0.1:${ports[2]}/?prefix=${encodeURIComponent(p)}&account=acme` });
      try {
        const r = await store.reserve([check({ key: 'k', max: 1 })], LEASE);
        expect(r.ok).toBe(true);
        expect(await store.reserve([check({ key: 'k', max: 1 })], LEASE)).toMatchObject({ ok: false, current: 1 });
        const keys = (await Promise.all(nodes.map(({ redis }) => redis.auth('s3cret:p@ss').then(() => redis.keys(`${p}*`))))).flat();
        // The reservation, the counter, its leases, the account's leases (to find lost holders), and
        // the store's marker (to see Redis lose its data).
        expect(keys.length).toBe(5);
        for (const key of keys) expect(key.startsWith(`${p}{acme}:`)).toBe(true);
      } finally {
        await store.close();
      }
    } finally {
      for (const { redis } of nodes) {
        await redis.config('SET', 'requirepass', '').catch(() => undefined);
        redis.disconnect();
      }
    }
  });

  it('builds a Cluster client from the URL: startup nodes, password, TLS for rediss+cluster://', () => {
    const conn = redisConnection('rediss+cluster://app:pa%40ss@10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002,redis-c', 1500);
    expect(conn).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
        { host: 'redis-c', port: 6379 },
      ],
      options: { redisOptions: { maxRetriesPerRequest: 0, commandTimeout: 1500, connectTimeout: 1500, username: 'app', password: 'pa@ss', tls: {} } },
    });
    const plain = redisConnection('redis+cluster://h:7000/', 1000);
    expect(plain.kind === 'cluster' && plain.options.redisOptions).not.toHaveProperty('tls');
    const client = connectRedis(redisConnection('redis+cluster://127.0.0.1:1,127.0.0.1:2', 1000)) as Cluster;
    client.on('error', () => undefined);
    try {
      expect(client.isCluster).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('passes rediss:// to ioredis as TLS, and redis:// without', () => {
    const tls = redisConnection('rediss://user:secret@cache.example:6380/0', 1000);
    expect(tls).toMatchObject({ kind: 'server', url: 'rediss://user:secret@cache.example:6380/0', options: { tls: {} } });
    expect(redisConnection('redis://127.0.0.1:6379', 1000).options).not.toHaveProperty('tls');
    // What ioredis makes of it (lazyConnect: nothing is dialled).
    const { url, options } = tls as { url: string; options: object };
    const client = new Redis(url, { ...options, lazyConnect: true });
    try {
      expect(client.options.tls).toBeTruthy();
      expect(client.options).toMatchObject({ host: 'cache.example', port: 6380, username: 'user', password: 'secret' });
    } finally {
      client.disconnect();
    }
  });

  it('refuses a malformed Cluster URL naming it (password redacted) and the form to use', () => {
    const form = 'use "redis+cluster://[user:password@]host1:7000,host2:7001" (or "rediss+cluster://…" for TLS).';
    expect(() => createRedisStore({ url: 'redis+cluster://app:hunter2@h1:7000,h2:port' })).toThrow(
      `tokenlay: Redis Cluster URL "redis+cluster://app:***@h1:7000,h2:port" has startup node "h2:port", which is not host:port; ${form}`,
    );
    expect(() => createStore('redis+cluster://:hunter2@h1:7000/2')).toThrow(
      `tokenlay: Redis Cluster URL "redis+cluster://:***@h1:7000/2" names database "2", but a Redis Cluster has only database 0; leave the path out; ${form}`,
    );
    expect(() => createRedisStore({ url: 'rediss+cluster://:hunter2@/' })).toThrow(`tokenlay: Redis Cluster URL "rediss+cluster://:***@/" names no startup node; ${form}`);
    expect(() => createRedisStore({ url: 'redis+cluster://h1:7000?db=1' })).toThrow(
      `tokenlay: Redis Cluster URL "redis+cluster://h1:7000?db=1" has "db" in its query, which a Cluster URL does not take here (only createStore reads ?prefix= and ?account=); ${form}`,
    );
    for (const url of ['redis+cluster://u:hunter2@h1:0', 'rediss+cluster://u:hunter2@h1:7000?x=1']) {
      expect(() => createRedisStore({ url })).toThrow(/^(?!.*hunter2)/s);
    }
  });
});

describe('Redis Cluster store, one shard unreachable', () => {
  it('a Cluster connection killed mid-call (CLIENT KILL on its shard): the call is answered, never a crash, held at most once; the store counts again after', async () => {
    const p = prefix();
    const store = createRedisStore({ url: clusterUrl, prefix: p, account: 'killed', commandTimeoutMs: 2000, log: () => undefined });
    const nodes = masters();
    try {
      expect((await store.reserve([check({ key: 'k' })], LEASE)).ok).toBe(true);
      const owners = await Promise.all(nodes.map(async (n) => (await n.redis.keys(`${p}*`)).length > 0));
      const node = nodes[owners.indexOf(true)]!;
      // Scripts wait while the shard is paused for writes; CLIENT KILL is not a write.
      await node.redis.call('CLIENT', 'PAUSE', '10000', 'WRITE');
      const held = store.reserve([check({ key: 'k' })], LEASE).then((r) => (r.ok ? 'admitted' : 'refused'), (e: Error) => e.name);
      // The script has reached the shard and waits there, paused.
      await until('the reservation never reached the paused shard', 10_000, async () => /blocked_clients:[1-9]/.test(String(await node.redis.call('INFO', 'clients'))));
      expect(Number(await node.redis.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'))).toBeGreaterThan(0);
      await node.redis.call('CLIENT', 'UNPAUSE');
      // ioredis's Cluster may send the script again on a new connection (Redis dropped the one it
      // never ran): either way the call is answered, and held at most once.
      const outcome = await held;
      expect(['admitted', 'TokenlayStoreUnavailableError']).toContain(outcome);
      await until('the store did not count again after its connection was killed', 10_000, async () => (await store.reserve([check({ key: 'k' })], LEASE).catch(() => ({ ok: false }))).ok);
      const { reserved } = await store.read('k', 'requests', LEASE.now, LEASE.now);
      expect(reserved).toBe(outcome === 'admitted' ? 3 : 2);
    } finally {
      await store.close();
      for (const { redis } of nodes) redis.disconnect();
    }
  });

  it('refuses within the command timeout, instead of queueing, when no node of the Cluster answers', async () => {
    const port = await clusterPort(ports);
    const lines: string[] = [];
    const store = createRedisStore({ url: `redis+cluster://:hunter2@127.0.0.1:${port}`, commandTimeoutMs: 500, log: (line) => lines.push(line) });
    const started = Date.now();
    try {
      await expect(store.reserve([check({ key: 'k' })], LEASE)).rejects.toThrow(
        `tokenlay: the Redis store redis+cluster://:***@127.0.0.1:${port} is unreachable, so limits cannot be checked; the call was refused (onStoreError: closed).`,
      );
      // During the outage the next call is refused at once.
      await expect(store.reserve([check({ key: 'k' })], LEASE)).rejects.toThrow(/unreachable/);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(store.health()).toMatchObject({ available: false, outages: 1, unavailableCalls: 2 });
    } finally {
      await store.close();
    }
    expect(lines.join('\n')).not.toContain('hunter2');
  });


  it('refuses (policy closed) only the calls whose account lives on a frozen shard, within the command timeout, and recovers', async () => {
    const p = prefix();
    const accounts = Array.from({ length: 12 }, (_, i) => `acct-${i}`);
    const nodes = masters();
    const stores = accounts.map((account) => createRedisStore({ url: clusterUrl, prefix: p, account, commandTimeoutMs: 500, log: () => undefined }));
    try {
      for (const store of stores) expect((await store.reserve([check({ key: 'k' })], LEASE)).ok).toBe(true);
      const frozen = 2;
      const onFrozen = new Set((await nodes[frozen]!.redis.keys(`${p}*`)).map((key) => /\{([^}]+)\}/.exec(key)![1]!));
      expect(onFrozen.size).toBeGreaterThan(0);
      procs[frozen]!.kill('SIGSTOP');
      try {
        const started = Date.now();
        const results = await Promise.all(stores.map((store) => store.reserve([check({ key: 'k' })], LEASE).then((r) => r.ok, (e: Error) => e.name)));
        expect(Date.now() - started).toBeLessThan(5_000);
        accounts.forEach((account, i) => expect([account, results[i]]).toEqual([account, onFrozen.has(account) ? 'TokenlayStoreUnavailableError' : true]));
      } finally {
        procs[frozen]!.kill('SIGCONT');
      }
      await until('the frozen shard did not answer again', 10_000, async () => {
        const r = await Promise.all(stores.map((store) => store.reserve([check({ key: 'k' })], LEASE)));
        return r.every((x) => x.ok);
      });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      for (const { redis } of nodes) redis.disconnect();
    }
  });
});
