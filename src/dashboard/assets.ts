import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file the page loads, with its content type. */
export interface Asset {
  body: Buffer;
  type: string;
}

/** The files the page loads, by the name it asks for; where each comes from in source and in dist. */
const FILES: Record<string, { type: string; source: string; vendor?: string }> = {
  'app.js': { type: 'text/javascript; charset=utf-8', source: 'app.js' },
  'app.css': { type: 'text/css; charset=utf-8', source: 'app.css' },
  'uplot.js': { type: 'text/javascript; charset=utf-8', source: 'uplot.js', vendor: 'uplot/dist/uPlot.iife.min.js' },
  'uplot.css': { type: 'text/css; charset=utf-8', source: 'uplot.css', vendor: 'uplot/dist/uPlot.min.css' },
};

const here = dirname(fileURLToPath(import.meta.url));
const cache = new Map<string, Asset>();

/**
 * The page's assets, served by the package itself (no CDN): from `dist/dashboard-assets/`, where
 * `npm run build` puts them (uPlot included), or, running from source, from `src/dashboard/assets/`
 * and the uPlot package.
 */
export function readAsset(name: string): Asset | undefined {
  if (!Object.hasOwn(FILES, name)) return undefined;
  const cached = cache.get(name);
  if (cached) return cached;
  const file = FILES[name]!;
  const candidates = [join(here, 'dashboard-assets', file.source), join(here, 'assets', file.source)];
  let path = candidates.find((p) => existsSync(p));
  if (!path && file.vendor) path = createRequire(import.meta.url).resolve(file.vendor);
  if (!path) throw new Error(`tokenlay dashboard: the asset ${name} is missing from the package; reinstall tokenlay (or run npm run build in its checkout).`);
  const asset = { body: readFileSync(path), type: file.type };
  cache.set(name, asset);
  return asset;
}
