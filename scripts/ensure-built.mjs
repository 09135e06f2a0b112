/**
 * Builds `dist/` with the package's own build (`npm run build`) when it is missing or older than
 * the sources. The demo, the examples' tests and the benchmarks load the package as an app does,
 * from `dist/`, never from `src/`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** Whether dist/ is newer than the sources; with `declarations`, its type declarations too. */
function fresh(declarations = false) {
  const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'adapters')), statSync(join(root, 'tsup.config.ts')).mtimeMs);
  const builtAt = (file) => (existsSync(join(root, 'dist', file)) ? statSync(join(root, 'dist', file)).mtimeMs : 0);
  return builtAt('index.js') > sources && (!declarations || builtAt('index.d.ts') > sources);
}

/**
 * The process holding the lock, or `undefined` when it is gone: a build stopped by Ctrl-C or a
 * crash never removes its lock, and would keep every later build waiting.
 * @param {string} lock
 * @returns {number | undefined}
 */
function holder(lock) {
  let pid;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    // No pid yet (taken a moment ago), or a lock from an older script: gone once it is a minute old.
    try {
      return Date.now() - statSync(lock).mtimeMs > 60_000 ? undefined : 0;
    } catch {
      return 0; // removed meanwhile: the next attempt takes it
    }
  }
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return error.code === 'EPERM' ? pid : undefined;
  }
}

/**
 * Several test processes may ask at once: one builds (holding `.tmp/build.lock`, with its pid), the
 * others wait for it, up to 5 minutes, rather than build over each other.
 * With `declarations` (`npm pack`'s prepack), a dist/ without fresh type declarations is rebuilt
 * whole; so `npm run build` then `npm pack` builds once.
 * @param {{ quiet?: boolean, declarations?: boolean }} [options]
 */
export function ensureBuilt(options = {}) {
  const declarations = options.declarations === true;
  if (fresh(declarations)) return;
  const lock = join(root, '.tmp', 'build.lock');
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const deadline = Date.now() + 300_000;
  let told = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const pid = holder(lock);
      if (pid === undefined) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`tokenlay: waited 5 minutes for another build; remove ${lock} if no build is running`);
      if (!told && !options.quiet && pid > 0) console.error(`tokenlay: waiting for the build of process ${pid} to finish (${lock})…`);
      told ||= pid > 0;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    if (fresh(declarations)) return;
    if (!options.quiet) console.error(`tokenlay: dist/ is missing or older than the sources; building it (npm run build${declarations ? '' : ', without type declarations'})…`);
    // The demo, the examples and the benchmarks run JavaScript: type declarations (two thirds of
    // the build's time) are left to `npm run build` and `npm pack`.
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TOKENLAY_BUILD_DTS: declarations ? '1' : '0' } });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

// Run as a script (`node scripts/ensure-built.mjs`, the first step of `npm run demo`; with
// `--declarations`, npm pack's prepack): build now if stale.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const declarations = process.argv.includes('--declarations');
  ensureBuilt({ declarations, quiet: declarations });
}
