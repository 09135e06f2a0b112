/**
 * Node built-ins for the Node-only parts (SQLite, rule files, the tokenizer, the price table),
 * fetched when first used and never imported at load: the root entry must load on Bun, Deno and
 * Cloudflare Workers, where only `node:async_hooks` can be counted on.
 */
import type * as NodeModule from 'node:module';
import { TokenlayConfigError } from './errors.js';

type BuiltinId = 'node:fs' | 'node:path' | 'node:module' | 'node:os';

declare const require: ((id: string) => unknown) | undefined;

/** What the runtime probe reads of the global object; each part may be missing off Node. */
interface RuntimeGlobals {
  navigator?: { userAgent?: string };
  Deno?: { version?: { deno?: string } };
  Bun?: { version?: string };
  process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown };
}

const runtime = globalThis as RuntimeGlobals;

/** Where the code runs, for error messages. */
export function runtimeName(): string {
  const g = runtime;
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'Cloudflare Workers';
  if (g.Deno?.version?.deno) return `Deno ${g.Deno.version.deno}`;
  if (g.Bun?.version) return `Bun ${g.Bun.version}`;
  if (g.process?.versions?.node) return `Node ${g.process.versions.node}`;
  return 'this runtime';
}

/** Whether the code runs on Cloudflare Workers (workerd), where the embedded engine cannot run. */
export function onWorkers(): boolean {
  return runtime.navigator?.userAgent === 'Cloudflare-Workers';
}

/**
 * The built-in `id` (`process.getBuiltinModule`: Node 20.16+, 22.3+, Bun, Deno), for `feature`.
 *
 * @throws an Error naming the feature, the runtime and the way out, where the built-in is missing.
 */
export function nodeBuiltin<T>(id: BuiltinId, feature: string): T {
  const get = runtime.process?.getBuiltinModule;
  let mod: unknown;
  try {
    mod = typeof get === 'function' ? get(id) : typeof require === 'function' ? require(id) : undefined;
  } catch {
    mod = undefined;
  }
  if (!mod) {
    throw new Error(
      `tokenlay: ${feature} needs ${id}, which ${runtimeName()} does not provide. Run it on Node.js 20.16 or later, or use remote mode (tokenlayKey / TOKENLAY_KEY) with the hosted proxy or your own \`tokenlay gateway\`, which need nothing of the runtime but fetch.`,
    );
  }
  return mod as T;
}

/** A CommonJS `require` for optional packages (drivers, encodings, the price table), made on first use. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a module as `require` returns it; callers name its type
export function nodeRequire(feature: string, from: string): (id: string) => any {
  const { createRequire } = nodeBuiltin<typeof NodeModule>('node:module', feature);
  return createRequire(from);
}

/**
 * A loader for an optional peer package (a driver), which loads it on first call and keeps it.
 *
 * @throws {TokenlayConfigError} when the package cannot be loaded, naming the feature and `npm install <pkg>`.
 */
export function optionalPeer<T>(pkg: string, feature: string, from: string): () => T {
  let loaded: T | undefined;
  return () => {
    if (loaded) return loaded;
    try {
      loaded = nodeRequire(feature, from)(pkg) as T;
    } catch (error) {
      throw new TokenlayConfigError(
        `tokenlay: ${feature} needs the ${pkg} package, which could not be loaded (${(error as Error).message.split('\n')[0]}). Run: npm install ${pkg}`,
        { cause: error },
      );
    }
    return loaded;
  };
}
