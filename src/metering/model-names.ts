/**
 * Model names as routers and gateways write them (`openai/us-west-2/o3-mini-2025-01-31`,
 * `Azure/GPT-4o`, `anthropic/claude-3-5-sonnet-latest`), folded into the lookups that find the
 * model in the price table. Dated snapshots (`-2025-01-31`) are matched by the table itself.
 */

/** One price-table lookup: a model id, optionally within one provider (an id or a base URL). */
export interface PriceLookup {
  model: string;
  providerId?: string;
  providerApiUrl?: string;
}

// Leading segments dropped at most: routers put a provider and sometimes a region or deployment
// before the name; more than this is not a model name but a path, and each try costs a search.
const MAX_PREFIX_SEGMENTS = 4;

/** Lower-cased, trimmed; the price table matches names case-insensitively. */
export function foldModelName(model: string): string {
  return model.trim().toLowerCase();
}

function hintLookup(hint: string, model: string): PriceLookup {
  return hint.includes('://') ? { providerApiUrl: hint, model } : { providerId: hint, model };
}

/**
 * The lookups to try, in order, for a model name and an optional provider hint: the whole name
 * (OpenRouter and Together ids contain a slash) with the hint, OpenAI, then any provider; then
 * each shorter tail of the name's `/`-segments, within the provider its dropped segments name
 * (`openai/…`), the hint, OpenAI, then any provider. The first lookup that has a price wins.
 */
export function priceLookups(model: string, hint?: string): PriceLookup[] {
  const name = foldModelName(model);
  const segments = name.split('/').filter((s) => s.length > 0);
  const list: PriceLookup[] = [];
  const seen = new Set<string>();
  const add = (lookup: PriceLookup) => {
    const key = `${lookup.providerId ?? ''}|${lookup.providerApiUrl ?? ''}|${lookup.model}`;
    if (seen.has(key)) return;
    seen.add(key);
    list.push(lookup);
  };
  const tails = Math.min(segments.length, MAX_PREFIX_SEGMENTS + 1);
  for (let drop = 0; drop < tails; drop++) {
    const tail = segments.slice(drop).join('/');
    if (!tail) continue;
    for (const prefix of segments.slice(0, drop)) add({ providerId: prefix, model: tail });
    if (hint) add(hintLookup(hint, tail));
    add({ providerId: 'openai', model: tail });
    add({ model: tail });
  }
  return list;
}

/**
 * The model a call names in its path, as Gemini's own API does (`…/models/gemini-2.5-flash:generateContent`,
 * `:streamGenerateContent`, `:countTokens`, `:embedContent`); undefined for a path that names none.
 */
const PATH_MODEL = /\/models\/([^/:?]+)(:[A-Za-z]+)(?=$|\?)/;

export function modelInPath(path: string): string | undefined {
  const match = PATH_MODEL.exec(path);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return match[1];
  }
}

/** The URL with the model in its path replaced (a rule routed a Gemini call to another model). */
export function withModelInPath(url: string, model: string): string {
  return url.replace(PATH_MODEL, (_all, _old: string, method: string) => `/models/${encodeURIComponent(model)}${method}`);
}
