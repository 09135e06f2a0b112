import { optionalPeer } from '../node-builtins.js';
import type * as Pg from 'pg';

/** pg, loaded on first use so that apps without a Postgres ledger never load it. */
export const loadPg = optionalPeer<typeof Pg>('pg', 'the Postgres ledger', import.meta.url);

/**
 * A pg `Pool` whose every `error` event is handed to `onError` instead of crashing the process:
 * the pool's own (an idle client lost its connection) and each client's, idle or checked out.
 * pg-pool listens on a client only while it is idle; a client taken with `pool.connect()` whose
 * server ends the session (a restart, a failover, `pg_terminate_backend`: 57P01) emits `error`
 * with no listener, which Node turns into an uncaught exception. With a listener, the query in
 * flight rejects as before, and the pool drops the broken client when it is released.
 */
export function createPool(config: Pg.PoolConfig, onError: (error: Error) => void): Pg.Pool {
  const { Pool } = loadPg();
  const pool = new Pool(config);
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

/** Runs `fn` in a transaction on one client of `pool`: committed, or rolled back (and rethrown) when it throws. */
export async function inTransaction<T>(pool: Pg.Pool, fn: (client: Pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
