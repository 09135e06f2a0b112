import { TokenlayConfigError } from '../errors.js';
import { optionalPeer } from '../node-builtins.js';
import type * as IORedis from 'ioredis';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { redactUrl } from './redact.js';

/** ioredis, loaded on first use so that apps on memory or SQLite never load it. */
export const loadIORedis = optionalPeer<typeof IORedis>('ioredis', 'the Redis store', import.meta.url);

/** How the Redis store connects: one server (ioredis reads the URL), or a Cluster from its startup nodes. */
export type RedisConnection =
  | { kind: 'server'; url: string; options: RedisOptions }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; options: ClusterOptions };

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?(#.*)?$/i;
const CLUSTER_FORM = '"redis+cluster://[user:password@]host1:7000,host2:7001" (or "rediss+cluster://…" for TLS)';

/** True for `redis+cluster://…` and `rediss+cluster://…`. */
export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//i.test(url);
}

/**
 * The connection a store URL stands for:
 * - `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS): one server;
 * - `redis+cluster://[user:password@]host1:port1,host2:port2[/]`, `rediss+cluster://…` (TLS): a
 *   Redis Cluster, the hosts being its startup nodes (any of its nodes; the rest are discovered).
 *   The user and password are those of every node.
 *
 * Commands fail after `timeoutMs` instead of queueing while Redis is unreachable.
 *
 * @throws {TokenlayConfigError} naming the URL (password redacted) and the form to use.
 */
export function redisConnection(url: string, timeoutMs: number): RedisConnection {
  const common: RedisOptions = { maxRetriesPerRequest: 0, commandTimeout: timeoutMs, connectTimeout: timeoutMs };
  if (!isClusterUrl(url)) {
    // ioredis turns rediss:// on TLS by itself; said here too, so that it cannot be lost.
    return { kind: 'server', url, options: /^rediss:\/\//i.test(url) ? { ...common, tls: {} } : common };
  }
  const shown = redactUrl(url);
  const bad = (what: string) => new TokenlayConfigError(`tokenlay: Redis Cluster URL "${shown}" ${what}; use ${CLUSTER_FORM}.`);
  const m = CLUSTER_URL.exec(url);
  if (!m) throw bad('is not a valid URL');
  const [, scheme, userinfo, hostList, path, query] = m;
  if (path !== undefined && path !== '' && path !== '/' && path !== '/0') {
    throw bad(`names database "${path.slice(1)}", but a Redis Cluster has only database 0; leave the path out`);
  }
  if (query) {
    const names = [...new URLSearchParams(query).keys()];
    if (names.length) throw bad(`has ${names.map((n) => `"${n}"`).join(', ')} in its query, which a Cluster URL does not take here (only createStore reads ?prefix= and ?account=)`);
  }
  const nodes = hostList!.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '').map((entry) => {
    const hm = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d*))?$/i.exec(entry);
    const port = hm?.[3] === undefined || hm[3] === '' ? 6379 : Number(hm[3]);
    if (!hm || !Number.isInteger(port) || port < 1 || port > 65535) throw bad(`has startup node "${entry}", which is not host:port`);
    return { host: hm[1] ?? hm[2]!, port };
  });
  if (nodes.length === 0) throw bad('names no startup node');
  const redisOptions: RedisOptions = { ...common };
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw bad('has a user or password that is not percent-encoded correctly');
      }
    };
    const username = decode(colon === -1 ? userinfo : userinfo.slice(0, colon));
    if (username) redisOptions.username = username;
    if (colon !== -1) redisOptions.password = decode(userinfo.slice(colon + 1));
  }
  if (scheme!.toLowerCase() === 'rediss') redisOptions.tls = {};
  return { kind: 'cluster', nodes, options: { redisOptions } };
}

/** An ioredis client for a connection from {@link redisConnection}. */
export function connectRedis(connection: RedisConnection): Redis | Cluster {
  const { Redis, Cluster } = loadIORedis();
  return connection.kind === 'cluster' ? new Cluster(connection.nodes, connection.options) : new Redis(connection.url, connection.options);
}
