import { createApp, type AppEnv } from './app.js';

let app: ReturnType<typeof createApp> | undefined;
export default {
  fetch(request: Request, env: AppEnv, ctx: unknown) {
    app ??= createApp(env);
    return app.fetch(request, env, ctx as any);
  },
};
