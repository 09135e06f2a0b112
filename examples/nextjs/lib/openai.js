import { TokenlayOpenAI } from 'tokenlay';
import { rules } from './rules.js';

/**
 * The one client of the whole server: it holds the policy engine and its counters. No tokenlayKey:
 * the engine runs in this process (embedded mode); PROVIDER_API_KEY and PROVIDER_API_BASE come
 * from the environment. 'memory' resets on restart and is per instance: on serverless or several
 * instances use store: 'redis://…' (and ledger: 'postgres://…').
 *
 * Made on first use, not on import: `next build` imports route modules, without your secrets.
 * Kept on globalThis because Next may evaluate this module more than once in one process (a dev
 * reload, two bundles), and two clients would each count a user's calls apart.
 * @returns {TokenlayOpenAI}
 */
export function openai() {
  return (globalThis.tokenlayOpenAI ??= new TokenlayOpenAI({ policy: rules, store: 'memory' }));
}
