/**
 * The most output tokens a model writes in one answer (one choice), for reservations. The price
 * table (`@pydantic/genai-prices`) carries each model's context window but no output limit, so the
 * limits of the models most used through OpenAI-style APIs are listed here, from the vendors' model
 * pages (OpenAI, Anthropic, Google; 2025). A listed limit is what the provider enforces when a call
 * sets none, so a reservation on it is an upper bound.
 */

// First match wins: specific names before the family they belong to.
const LIMITS: ReadonlyArray<readonly [RegExp, number]> = [
  [/^gpt-4o-2024-05-13/, 4_096],
  [/^(gpt-4o|chatgpt-4o|gpt-4\.5)/, 16_384],
  [/^gpt-4\.1/, 32_768],
  [/^gpt-5(\.\d+)?-chat/, 16_384],
  [/^gpt-5/, 128_000],
  [/^o1-mini/, 65_536],
  [/^o1-preview/, 32_768],
  [/^(o1|o3|o4|codex-mini)/, 100_000],
  [/^gpt-4-32k/, 32_768],
  [/^gpt-4-(turbo|\d{4}-preview|vision)/, 4_096],
  [/^gpt-4(-\d{4})?$/, 8_192],
  [/^gpt-3\.5/, 4_096],
  [/^claude-(opus-4|4-opus)/, 32_000],
  [/^claude-(sonnet-4|4-sonnet|3-7-sonnet)/, 64_000],
  [/^claude-3-5/, 8_192],
  [/^claude-3/, 4_096],
  [/^gemini-2\.5/, 65_536],
  [/^gemini-(2\.0|1\.5)/, 8_192],
];

/** The listed output limit of `model` (vendor prefix and case ignored), or undefined. */
export function listedOutputLimit(model: string): number | undefined {
  const name = model.toLowerCase().slice(model.lastIndexOf('/') + 1);
  for (const [pattern, limit] of LIMITS) if (pattern.test(name)) return limit;
  return undefined;
}
