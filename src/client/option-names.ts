import { TokenlayConfigError } from '../errors.js';
import { likelyOption, OPTION_NAMES } from './option-table.js';

// OpenAI client options whose names happen to start like ours.
const OPENAI_OWN = new Set(['provider']);
const LOOKS_OURS = /^(provider|tokenlay)_?/i;

/** The documented option a misspelt one most likely meant: by prefix, then by what it names. */
function suggestion(name: string): string {
  const rest = name.replace(LOOKS_OURS, '').toLowerCase();
  const isPlace = /url|base|host|endpoint|address|server|uri/.test(rest);
  return likelyOption(/^provider/i.test(name) ? 'provider' : 'tokenlay', isPlace);
}

/**
 * @internal Refuses options that would otherwise be silently ignored: OpenAI's `baseURL`, which
 * would bypass the proxy or the engine, and misspelt Tokenlay options (a misspelt key would fall
 * back to an env var or fail later with a message that does not name what was typed).
 */
export function checkOptionNames(options: object): void {
  if ((options as { baseURL?: unknown }).baseURL !== undefined) {
    throw new TokenlayConfigError(
      'tokenlay: `baseURL` is not an option of TokenlayOpenAI: calls go to the Tokenlay proxy or the embedded engine. ' +
        'Pass the provider\'s URL as `providerApiBase` (env PROVIDER_API_BASE), or the proxy\'s as `tokenlayBaseUrl` (env TOKENLAY_BASE_URL).',
    );
  }
  for (const name of Object.keys(options)) {
    if (OPTION_NAMES.has(name) || OPENAI_OWN.has(name) || !LOOKS_OURS.test(name)) continue;
    throw new TokenlayConfigError(`tokenlay: unknown option \`${name}\`; did you mean \`${suggestion(name)}\`?`);
  }
}
