import { createApp } from './app.js';

declare const Bun: any;
const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: createApp({ PROXY_URL: process.env.PROXY_URL!, JWT_SECRET: process.env.JWT_SECRET! }).fetch });
console.log(`listening ${server.port}`);
