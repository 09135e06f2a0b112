import { createApp } from './app.js';

declare const Deno: any;
const app = createApp({ PROXY_URL: Deno.env.get('PROXY_URL'), JWT_SECRET: Deno.env.get('JWT_SECRET') });
Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: ({ port }: { port: number }) => console.log(`listening ${port}`) }, app.fetch);
