import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

// ioredis and pg are optional peers: loaded only when a Redis store or a Postgres ledger is
// configured, and named with the install command when they are missing.
const run = promisify(execFile);
const fixtures = join(import.meta.dirname, 'fixtures');
const tsx = pathToFileURL(join(import.meta.dirname, '..', '..', 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** Opens `createStore(options)` in a child process, with ioredis and pg hidden when `hide`. */
export async function openWith(options: object, hide: boolean): Promise<{ ok?: boolean; error?: string; loaded: string[] }> {
  const args = [...(hide ? ['--require', join(fixtures, 'without-drivers.cjs')] : []), '--import', tsx, join(fixtures, 'open-distributed.ts'), JSON.stringify(options)];
  const { stdout } = await run(process.execPath, args, { env: { ...process.env, TOKENLAY_STORE: '', TOKENLAY_LEDGER: '' } });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

