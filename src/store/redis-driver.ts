import { TokenlayConfigError } from '../config-error.js';
import { nodeRequire } from '../node-builtins.js';
import type * as IORedis from 'ioredis';

let driver: typeof IORedis | undefined;

/** ioredis, loaded on first use so that apps on memory or SQLite never load it. */
export function loadIORedis(): typeof IORedis {
  if (driver) return driver;
  try {
    driver = nodeRequire('the Redis store', import.meta.url)('ioredis') as typeof IORedis;
  } catch (error) {
    throw new TokenlayConfigError(
      `tokenlay: the Redis store needs the ioredis package, which could not be loaded (${(error as Error).message.split('\n')[0]}). Run: npm install ioredis`,
      { cause: error },
    );
  }
  return driver;
}
