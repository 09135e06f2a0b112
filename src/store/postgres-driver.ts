import { TokenlayConfigError } from '../config-error.js';
import { nodeRequire } from '../node-builtins.js';
import type * as Pg from 'pg';

let driver: typeof Pg | undefined;

/** pg, loaded on first use so that apps without a Postgres ledger never load it. */
export function loadPg(): typeof Pg {
  if (driver) return driver;
  try {
    driver = nodeRequire('the Postgres ledger', import.meta.url)('pg') as typeof Pg;
  } catch (error) {
    throw new TokenlayConfigError(
      `tokenlay: the Postgres ledger needs the pg package, which could not be loaded (${(error as Error).message.split('\n')[0]}). Run: npm install pg`,
      { cause: error },
    );
  }
  return driver;
}
