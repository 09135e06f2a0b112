/**
 * The provider bases the gateway may call. A caller names the provider's base in
 * `x-tokenlay-provider-base`; without a list, a gateway would fetch any URL its callers name,
 * including the cloud's metadata address and services on its own network.
 */

/** The https bases of the providers in the README's table: the default allowlist. */
export const DEFAULT_PROVIDER_BASES: readonly string[] = [
  'https://api.openai.com/v1',
  'https://api.anthropic.com/v1',
  'https://generativelanguage.googleapis.com/v1beta/openai',
  // Gemini's own API (generateContent, streamGenerateContent), metered in its own dialect.
  'https://generativelanguage.googleapis.com/v1beta',
  'https://api.mistral.ai/v1',
  'https://api.groq.com/openai/v1',
  'https://api.together.xyz/v1',
  'https://api.fireworks.ai/inference/v1',
  'https://api.deepseek.com/v1',
  'https://api.x.ai/v1',
  'https://openrouter.ai/api/v1',
];

/** The base as compared: origin and path, no trailing slash, lower-case scheme and host. */
function normalize(base: URL): string {
  return base.origin + base.pathname.replace(/\/+$/, '');
}

type CheckResult = { ok: true; base: string } | { ok: false; message: string };

/** Bases whose verdict {@link ProviderAllowlist.check} keeps; past it, it starts over (a caller sending a new base each call gains nothing). */
const MAX_VERDICTS = 256;
/** Characters of the longest base whose verdict is kept: a real base is far shorter. */
const MAX_KEPT_LENGTH = 512;

/** A parsed allowlist; bases are compared by origin and path (a base allows the paths below it). */
export interface ProviderAllowlist {
  readonly bases: readonly string[];
  /** The provider base to use, or a refusal message saying how to allow it. */
  check(base: string): CheckResult;
}

/**
 * @throws an Error naming the value when an entry is not an absolute http(s) URL without credentials.
 */
export function createAllowlist(bases: readonly string[]): ProviderAllowlist {
  const allowed = bases.map((b) => {
    let url: URL;
    try {
      url = new URL(b);
    } catch {
      throw new Error(`tokenlay gateway: --allow-provider-base "${b}" is not a URL; give an absolute base such as https://api.openai.com/v1.`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Error(`tokenlay gateway: --allow-provider-base "${b}" must be an http or https URL, such as https://api.openai.com/v1.`);
    }
    if (url.username || url.password) {
      throw new Error(`tokenlay gateway: --allow-provider-base "${url.protocol}//***@${url.host}${url.pathname}" carries credentials; give the base without them.`);
    }
    return normalize(url);
  });
  const shown = allowed.join(', ');
  // A caller sends the same base on every call: its verdict is kept, for a bounded number of bases.
  const verdicts = new Map<string, CheckResult>();
  return {
    bases: allowed,
    check(base) {
      let verdict = verdicts.get(base);
      if (verdict === undefined) {
        verdict = checkBase(base);
        if (base.length <= MAX_KEPT_LENGTH) {
          if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
          verdicts.set(base, verdict);
        }
      }
      return verdict;
    },
  };

  function checkBase(base: string): CheckResult {
    let url: URL | undefined;
    try {
      url = new URL(base);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      return { ok: false, message: `tokenlay: x-tokenlay-provider-base ${JSON.stringify(base.slice(0, 200))} is not an http(s) URL; send the provider's base, such as https://api.openai.com/v1.` };
    }
    if (url.username || url.password || url.search || url.hash) {
      return { ok: false, message: `tokenlay: x-tokenlay-provider-base must be a plain base URL without credentials, query or fragment (got ${url.protocol}//${url.host}${url.pathname}).` };
    }
    // The URL parser resolved plain dots already; encoded ones (and `..;`) a provider could still resolve.
    if (/%(2e|2f|5c)|(^|\/)\.\.?;/i.test(url.pathname)) {
      return { ok: false, message: `tokenlay: x-tokenlay-provider-base ${JSON.stringify(base.slice(0, 200))} has an encoded dot, slash or backslash (%2e, %2f, %5c) or a "..;" segment in its path; send the provider's plain base, such as https://api.openai.com/v1.` };
    }
    const wanted = normalize(url);
    if (allowed.some((a) => wanted === a || wanted.startsWith(a + '/'))) return { ok: true, base: wanted };
    return {
      ok: false,
      message:
        `tokenlay: provider base ${wanted} is not allowed by this gateway (allowed: ${shown}). ` +
        `To allow it, start the gateway with --allow-provider-base ${wanted} (repeat the flag for several), or set TOKENLAY_ALLOW_PROVIDER_BASE=${wanted} (comma-separated).`,
    };
  }
}
