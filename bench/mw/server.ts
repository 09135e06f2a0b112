/** One measured server: `node --import tsx bench/mw/server.ts <framework> <variant>`. */
import { serveParent } from '../lib/child.js';
import { starter, type Framework } from './apps.js';

const [framework, variant] = process.argv.slice(2);
starter(framework as Framework, variant)().then((url) => serveParent(url));
