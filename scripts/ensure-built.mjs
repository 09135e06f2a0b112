/**
 * Builds `dist/` with the package's own build (`npm run build`) when it is missing or older than
 * the sources. The demo, the examples' tests and the benchmarks load the package as an app does,
 * from `dist/`, never from `src/`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newest(dir) {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    time = Math.max(time, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return time;
}

function fresh() {
  const marker = join(root, 'dist', 'index.js');
  const built = existsSync(marker) ? statSync(marker).mtimeMs : 0;
  return built > Math.max(newest(join(root, 'src')), newest(join(root, 'adapters')), statSync(join(root, 'tsup.config.ts')).mtimeMs);
}

/**
 * Several test processes may ask at once: one builds (holding `.tmp/build.lock`), the others wait
 * for it, up to 5 minutes, rather than build over each other.
 * @param {{ quiet?: boolean }} [options]
 */
export function ensureBuilt(options = {}) {
  if (fresh()) return;
  const lock = join(root, '.tmp', 'build.lock');
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`tokenlay: waited 5 minutes for another build; remove ${lock} if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    if (fresh()) return;
    if (!options.quiet) console.error('tokenlay: dist/ is missing or older than the sources; building it (npm run build)…');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

// Run as a script (`node scripts/ensure-built.mjs`, the first step of `npm run demo`): build now if stale.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) ensureBuilt();
