/** @type {import('next').NextConfig} */
export default {
  // Loaded by Node at run time rather than bundled: tokenlay loads the drivers of its stores
  // (better-sqlite3, ioredis, pg) only when a store needs them.
  serverExternalPackages: ['tokenlay'],
};
