/** Reading and rewriting OpenAI-style JSON bodies: what the engine needs of them, no more. */

export type JsonBody = Record<string, unknown>;

/** The body as a JSON object, or undefined when it is absent, not a string, or not an object. */
export function parseJsonBody(body: unknown): JsonBody | undefined {
  if (typeof body !== 'string' || body.length === 0) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonBody) : undefined;
  } catch {
    return undefined;
  }
}

const FORM_MODEL = /name="model"\r?\n(?:[^\r\n]+\r?\n)*\r?\n([^\r\n]{1,256})\r?\n/;

/**
 * The `model` field of a multipart form body (audio transcription and translation, image edits):
 * a `FormData` as SDKs hand it to fetch, or the raw multipart bytes a gateway reads.
 */
export function formModel(body: unknown): string | undefined {
  if (typeof FormData !== 'undefined' && body instanceof FormData) {
    const model = body.get('model');
    return typeof model === 'string' && model.length > 0 ? model : undefined;
  }
  let text: string | undefined;
  if (typeof body === 'string') text = body;
  else if (body instanceof Uint8Array || body instanceof ArrayBuffer) {
    const bytes = body instanceof Uint8Array ? body : new Uint8Array(body);
    // Only the field's own bytes are decoded, not an audio file's.
    const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf('name="model"');
    if (at >= 0) text = new TextDecoder().decode(bytes.subarray(at, at + 1024));
  }
  return text === undefined ? undefined : FORM_MODEL.exec(text)?.[1];
}

/** What the engine reads of a provider URL: its origin and path, or undefined when it is not a URL. */
export interface UrlParts {
  origin: string;
  pathname: string;
}

// An app calls a handful of URLs over and over: each is parsed once (three readers a call).
const URL_PARTS_KEPT = 256;
const urlParts = new Map<string, UrlParts | undefined>();

/** The origin and path of `url` (undefined when it is not a URL), parsed once per distinct URL. */
export function partsOf(url: string): UrlParts | undefined {
  if (urlParts.has(url)) return urlParts.get(url);
  let parts: UrlParts | undefined;
  try {
    const u = new URL(url);
    parts = { origin: u.origin, pathname: u.pathname };
  } catch {
    parts = undefined;
  }
  if (urlParts.size >= URL_PARTS_KEPT) urlParts.clear();
  urlParts.set(url, parts);
  return parts;
}

/** The OpenAI REST path of a provider URL, from its last `/v1/` on: `/v1/chat/completions`. */
export function endpointOf(url: string): string {
  const path = partsOf(url)?.pathname ?? url.split('?')[0] ?? url;
  const at = path.lastIndexOf('/v1/');
  return at >= 0 ? path.slice(at) : path;
}

/** Whether the call is a streamed chat completion, the one stream that must ask for usage. */
export function isStreamedChat(endpoint: string, body: JsonBody | undefined): boolean {
  return body?.stream === true && /\/chat\/completions$/.test(endpoint);
}

/** Whether the caller asked for the usage chunk itself. */
export function callerAskedForUsage(body: JsonBody | undefined): boolean {
  const options = body?.stream_options;
  return typeof options === 'object' && options !== null && (options as JsonBody).include_usage === true;
}

/**
 * The body sent to the provider: the rule's `model_params` over the caller's, the model the
 * engine chose, and for a streamed chat call `stream_options.include_usage`.
 */
export function providerBody(body: JsonBody, params: JsonBody | undefined, model: string | undefined, askUsage: boolean): JsonBody {
  const out: JsonBody = { ...body, ...params };
  if (model !== undefined) out.model = model;
  if (askUsage) out.stream_options = { ...(body.stream_options as JsonBody | undefined), include_usage: true };
  return out;
}

/** The generated text of a JSON answer, to estimate output tokens when the provider reports none. */
export function answerText(json: unknown): string {
  const parts: string[] = [];
  if (Array.isArray(json)) return json.map(answerText).filter((t) => t.length > 0).join('\n');
  const body = json as { choices?: unknown; output?: unknown; content?: unknown; candidates?: unknown } | null;
  // Anthropic Messages: content blocks; Gemini: each candidate's parts.
  const blocks = [...(Array.isArray(body?.content) ? body.content : [])];
  if (Array.isArray(body?.candidates)) for (const c of body.candidates as Array<{ content?: { parts?: unknown } }>) if (Array.isArray(c?.content?.parts)) blocks.push(...c.content.parts);
  for (const block of blocks as Array<{ text?: unknown; input?: unknown }>) {
    if (typeof block?.text === 'string') parts.push(block.text);
    else if (block?.input !== undefined) parts.push(JSON.stringify(block.input));
  }
  if (Array.isArray(body?.choices)) {
    for (const choice of body.choices as Array<{ text?: unknown; message?: { content?: unknown; tool_calls?: unknown } }>) {
      if (typeof choice?.text === 'string') parts.push(choice.text);
      if (typeof choice?.message?.content === 'string') parts.push(choice.message.content);
      if (Array.isArray(choice?.message?.tool_calls)) parts.push(JSON.stringify(choice.message.tool_calls));
    }
  }
  if (Array.isArray(body?.output)) {
    for (const item of body.output as Array<{ content?: unknown; arguments?: unknown }>) {
      if (typeof item?.arguments === 'string') parts.push(item.arguments);
      if (!Array.isArray(item?.content)) continue;
      for (const c of item.content as Array<{ text?: unknown }>) if (typeof c?.text === 'string') parts.push(c.text);
    }
  }
  return parts.join('\n');
}
