import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type * as Pg from 'pg';
import { afterAll } from 'vitest';

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
