/**
 * `scripts/ensure-built.mjs`, the first step of `npm run demo`, run as a script in a checkout of its
 * own: a folder with the script, sources, and a `build` that only writes `dist/index.js`, so that
 * no test waits for the real build.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { watchPrinted } from '../support/printed.js';
import { ROOT } from './support.js';

const run = promisify(execFile);
const checkouts: string[] = [];
afterAll(() => {
  for (const dir of checkouts) rmSync(dir, { recursive: true, force: true });
});

/** A checkout whose dist/ is older than its sources. */
function staleCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-ensure-built-'));
  checkouts.push(dir);
  for (const folder of ['scripts', 'src', 'adapters', 'dist', '.tmp']) mkdirSync(join(dir, folder));
  copyFileSync(join(ROOT, 'scripts', 'ensure-built.mjs'), join(dir, 'scripts', 'ensure-built.mjs'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'checkout', private: true, scripts: { build: `node -e "require('fs').writeFileSync('dist/index.js', '// built')"` } }));
  writeFileSync(join(dir, 'dist', 'index.js'), '// old');
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(join(dir, 'dist', 'index.js'), old, old);
  writeFileSync(join(dir, 'tsup.config.ts'), '');
  writeFileSync(join(dir, 'src', 'index.ts'), '');
  return dir;
}

const built = (dir: string) => readFileSync(join(dir, 'dist', 'index.js'), 'utf8');
const ensureBuilt = (dir: string) => run(process.execPath, [join(dir, 'scripts', 'ensure-built.mjs')], { cwd: dir, timeout: 30_000 });

describe('scripts/ensure-built.mjs', () => {
  it('builds a stale dist/', async () => {
    const dir = staleCheckout();
    await ensureBuilt(dir);
    expect(built(dir)).toBe('// built');
    expect(existsSync(join(dir, '.tmp', 'build.lock'))).toBe(false);
  });

  it('takes over the lock of a build that was stopped (Ctrl-C) instead of waiting 5 minutes for it', async () => {
    const dir = staleCheckout();
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    mkdirSync(join(dir, '.tmp', 'build.lock'));
    writeFileSync(join(dir, '.tmp', 'build.lock', 'pid'), String(gone));
    const started = Date.now();
    await ensureBuilt(dir);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(built(dir)).toBe('// built');
    expect(existsSync(join(dir, '.tmp', 'build.lock'))).toBe(false);
  }, 40_000);

  it('npm run build then npm pack builds once: prepack rebuilds only a dist/ that is stale or lacks fresh type declarations', async () => {
    const dir = staleCheckout();
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    // The package's own prepack, and a build that counts its runs and writes JavaScript, plus declarations unless TOKENLAY_BUILD_DTS=0.
    const build = `node -e "const fs=require('fs');fs.appendFileSync('builds.log','b\\n');fs.writeFileSync('dist/index.js','// built');if(process.env.TOKENLAY_BUILD_DTS!=='0')fs.writeFileSync('dist/index.d.ts','export {};')"`;
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'checkout', version: '1.0.0', files: ['dist'], scripts: { build, prepack: root.scripts.prepack } }));
    const builds = () => (existsSync(join(dir, 'builds.log')) ? readFileSync(join(dir, 'builds.log'), 'utf8').trim().split('\n').length : 0);
    const npm = (...args: string[]) => run('npm', args, { cwd: dir, timeout: 60_000 });
    await npm('run', 'build');
    expect(builds()).toBe(1);
    const packed = join(dir, 'packed');
    mkdirSync(packed);
    await npm('pack', '--pack-destination', packed);
    expect(builds()).toBe(1);
    // A dist/ the demo built (JavaScript only) is built again, declarations included, before packing.
    rmSync(join(dir, 'dist', 'index.d.ts'));
    await npm('pack', '--pack-destination', packed);
    expect(builds()).toBe(2);
    expect(existsSync(join(dir, 'dist', 'index.d.ts'))).toBe(true);
  }, 120_000);

  it('waits for a build still running, and says so', async () => {
    const dir = staleCheckout();
    mkdirSync(join(dir, '.tmp', 'build.lock'));
    writeFileSync(join(dir, '.tmp', 'build.lock', 'pid'), String(process.pid));
    const child = spawn(process.execPath, [join(dir, 'scripts', 'ensure-built.mjs')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const stderr = watchPrinted([child.stderr]);
    try {
      // Once it says it waits, the other build finishes: it writes dist/ and lets go of the lock.
      await stderr.until(new RegExp(`waiting for the build of process ${process.pid}`), 30_000);
      writeFileSync(join(dir, 'dist', 'index.js'), '// built by the other');
      rmSync(join(dir, '.tmp', 'build.lock'), { recursive: true });
      expect(await exited, stderr.text()).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr.text()).toContain(`waiting for the build of process ${process.pid}`);
    expect(built(dir)).toBe('// built by the other');
  }, 40_000);
});
