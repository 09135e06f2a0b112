import { describe, expect, it } from 'vitest';
import { openWith } from './drivers-child.js';
import { REDIS_URL, useRedisPrefixes } from './services.js';

const prefixes = useRedisPrefixes();

describe('without ioredis installed', () => {
  it('refuses a redis:// store with the install command, and never echoes the password', async () => {
    const result = await openWith({ store: 'redis://default:hunter2@127.0.0.1:6379' }, true);
    expect(result.error).toMatch(/^tokenlay: the Redis store needs the ioredis package, which could not be loaded \(Cannot find module 'ioredis'\)\. Run: npm install ioredis$/);
    expect(result.error).not.toMatch(/hunter2/);
  });

  it('runs memory stores without loading either driver', async () => {
    expect(await openWith({ store: 'memory' }, true)).toEqual({ ok: true, loaded: [] });
    expect(await openWith({ store: 'memory' }, false)).toEqual({ ok: true, loaded: [] });
  });

  it('loads ioredis, and only it, once a redis:// store is configured', async () => {
    const prefix = prefixes();
    expect(await openWith({ store: `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}` }, false)).toEqual({ ok: true, loaded: ['ioredis'] });
  });
});
