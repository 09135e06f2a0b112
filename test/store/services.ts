import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type * as Pg from 'pg';
import { afterAll } from 'vitest';
import { redactUrl } from '../../src/store/redact.js';

// The machine's Redis and PostgreSQL. Tests that need them fail (never skip) when they are down:
// .ci/run starts them.
export const REDIS_URL = process.env.TOKENLAY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.TOKENLAY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const require = createRequire(import.meta.url);
const { Redis } = require('ioredis') as typeof IORedis;
const pg = require('pg') as typeof Pg;

/**
 * A key prefix no other test file or run uses; every key under it is deleted after the file's
 * tests, so runs in parallel never see each other's counters.
 */
export function useRedisPrefixes(): () => string {
  const root = `tokenlay-test:${randomUUID().slice(0, 8)}:`;
  let n = 0;
  afterAll(async () => {
    if (n === 0) return; // no prefix handed out (the file failed before): nothing to delete
    const redis = new Redis(REDIS_URL);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${root}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  });
  return () => `${root}${n++}:`;
}

/** A Postgres schema no other test file or run uses, dropped after the file's tests. */
export function usePostgresSchemas(): () => string {
  const root = `tokenlay_test_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const made: string[] = [];
  afterAll(async () => {
    if (made.length === 0) return;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      for (const schema of made) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });
  return () => {
    const schema = `${root}_${made.length}`;
    made.push(schema);
    return schema;
  };
}

/** Runs `sql` against the test database. */
export async function pgQuery<R extends Pg.QueryResultRow = Pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Fails loudly, naming the service, its URL (password hidden) and how to start it, unless Redis
 * and PostgreSQL both answer within 3 s. For test files that need both (never a skip: CI runs them).
 */
export async function requireServices(startThem: string): Promise<void> {
  const problems: string[] = [];
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | undefined; // what the socket said (ECONNREFUSED…), before "Connection is closed"
  redis.on('error', (error: Error) => (cause ??= error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    problems.push(`Redis at ${redactUrl(REDIS_URL)} (TOKENLAY_TEST_REDIS_URL) did not answer: ${(cause ?? (error as Error)).message}`);
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    problems.push(`PostgreSQL at ${redactUrl(POSTGRES_URL)} (TOKENLAY_TEST_POSTGRES_URL) did not answer: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\nThese tests need both and never skip. ${startThem}`);
}
