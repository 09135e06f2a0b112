// npm aliases of older majors, and packages that ship no types: typed as their current major.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module '@koa/multer' {
  import type { Middleware } from 'koa';
  interface KoaMulter {
    single(field: string): Middleware;
    any(): Middleware;
  }
  function multer(options?: object): KoaMulter;
  export default multer;
}
declare module 'fastify-plugin-v4' {
  import fp from 'fastify-plugin';
  export default fp;
}
