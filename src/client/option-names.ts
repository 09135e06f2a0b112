import { TokenlayConfigError } from '../errors.js';

/** Every option a Tokenlay client or fetch reads, in the spelling it is documented with. */
const TOKENLAY_OPTIONS = [
  'providerApiKey',
  'providerApiBase',
  'tokenlayKey',
  'tokenlayBaseUrl',
  'provider_api_key',
  'provider_api_base',
  'provider_base_url',
  'tokenlay_key',
  'tokenlay_base_url',
] as const;

const KNOWN = new Set<string>(TOKENLAY_OPTIONS);
// OpenAI client options whose names happen to start like ours.
const OPENAI_OWN = new Set(['provider']);
const LOOKS_OURS = /^(provider|tokenlay)_?/i;

/** The documented option a misspelt one most likely meant: by prefix, then by what it names. */
function suggestion(name: string): string {
  const provider = /^provider/i.test(name);
  const rest = name.replace(LOOKS_OURS, '').toLowerCase();
  const isPlace = /url|base|host|endpoint|address|server|uri/.test(rest);
  if (provider) return isPlace ? 'providerApiBase' : 'providerApiKey';
  return isPlace ? 'tokenlayBaseUrl' : 'tokenlayKey';
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
    if (KNOWN.has(name) || OPENAI_OWN.has(name) || !LOOKS_OURS.test(name)) continue;
    throw new TokenlayConfigError(`tokenlay: unknown option \`${name}\`; did you mean \`${suggestion(name)}\`?`);
  }
}
