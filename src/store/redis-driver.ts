import { TokenlayConfigError } from '../config-error.js';
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';

const require = createRequire(import.meta.url);
let driver: typeof IORedis | undefined;

/** ioredis, loaded on first use so that apps on memory or SQLite never load it. */
export function loadIORedis(): typeof IORedis {
  if (driver) return driver;
  try {
    driver = require('ioredis') as typeof IORedis;
  } catch (error) {
    throw new TokenlayConfigError(
      `tokenlay: the Redis store needs the ioredis package, which could not be loaded (${(error as Error).message.split('\n')[0]}). Run: npm install ioredis`,
      { cause: error },
    );
  }
  return driver;
}
