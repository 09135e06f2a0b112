import { addUsage, type TokenlayUsage } from './context.js';
import { usageFromJson } from './metering/usage.js';
import {
  BODY_KEY,
  linkMetadata,
  metadataFromHeaders,
  metadataFromTrailer,
  type MetadataHolder,
} from './response.js';
import { TRAILER_PREFIX } from './protocol/names.js';
import { readTrailerLine, settledReportOf } from './protocol/report.js';

interface BodyUsage {
  inputTokens: number;
  outputTokens: number;
}

/** Token counts from an OpenAI body or stream event, for answers that came without Tokenlay headers. */
function usageOf(body: any): BodyUsage | undefined {
  // A Responses API stream event carries its usage under `response`.
  return usageFromJson('', body?.usage ? body : body?.response);
}

/**
 * Scans an SSE stream for the `: x-tokenlay {json}` trailer (and, failing that, the provider's
 * usage chunk) while passing every byte through untouched.
 */
function trailerScanner(holder: MetadataHolder, usage: TokenlayUsage | undefined) {
  const decoder = new TextDecoder();
  let carry = '';
  let trailer = false;
  let fallback: BodyUsage | undefined;

  const line = (text: string) => {
    if (text.startsWith(TRAILER_PREFIX)) {
      // A malformed trailer leaves the header metadata in place.
      const parsed = readTrailerLine(text);
      if (parsed) {
        holder.metadata = metadataFromTrailer(parsed, holder.metadata);
        trailer = true;
      }
    } else if (text.startsWith('data:') && text.includes('"usage"') && !text.includes('"usage":null')) {
      try {
        fallback = usageOf(JSON.parse(text.slice(5))) ?? fallback;
      } catch {
        // Not JSON: not a usage chunk.
      }
    }
  };
  const scan = (text: string) => {
    carry += text;
    let nl: number;
    while ((nl = carry.indexOf('\n')) !== -1) {
      line(carry.slice(0, nl).replace(/\r$/, ''));
      carry = carry.slice(nl + 1);
    }
  };
  const finish = () => {
    if (carry) line(carry.replace(/\r$/, ''));
    holder.ended = true;
    if (trailer && holder.metadata) addUsage(usage, holder.metadata, false);
    else if (fallback) addUsage(usage, fallback, false);
  };
  return {
    chunk(bytes: Uint8Array) {
      scan(decoder.decode(bytes, { stream: true }));
    },
    end() {
      scan(decoder.decode());
      finish();
    },
    /** The stream was cancelled or broke before its end: roll up what was settled, when the engine says. */
    cut(settled: Promise<Record<string, unknown>> | undefined) {
      if (holder.ended) return;
      holder.ended = true;
      if (trailer || !settled) return;
      void settled.then((report) => {
        holder.metadata = metadataFromTrailer(report, holder.metadata);
        addUsage(usage, holder.metadata, false);
      });
    },
  };
}

/** Passes a streamed body through the scanner, and tells it when the stream is cut short. */
function observedBody(body: ReadableStream<Uint8Array>, scanner: ReturnType<typeof trailerScanner>, settled: Promise<Record<string, unknown>> | undefined) {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          scanner.cut(settled);
          throw error;
        }
        if (next.done) {
          scanner.end();
          controller.close();
          return;
        }
        scanner.chunk(next.value);
        controller.enqueue(next.value);
      },
      cancel(reason) {
        scanner.cut(settled);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * @internal Reads what an answer says about the call, rolls it up on the request scope, and links
 * it so that `getTokenlayMetadata` finds it from the parsed body, the `Stream` or the `Response`.
 */
export function observeResponse(response: Response, usage: TokenlayUsage | undefined, signal?: AbortSignal | null): Response {
  const metadata = metadataFromHeaders(response.headers);
  const streaming = (response.headers.get('content-type') ?? '').includes('text/event-stream');
  const holder: MetadataHolder = { metadata, streaming, ended: !streaming };
  if (signal) linkMetadata(signal, holder);
  if (!response.ok) {
    linkMetadata(response, holder);
    return response;
  }
  // The call counts once it is answered; a stream's cost and tokens arrive with its trailer.
  addUsage(usage, streaming ? {} : (metadata ?? {}));

  if (streaming && response.body) {
    const observed = new Response(observedBody(response.body, trailerScanner(holder, usage), settledReportOf(response)), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    linkMetadata(observed, holder);
    return observed;
  }

  linkMetadata(response, holder);
  const json = response.json.bind(response);
  // The OpenAI SDK parses the body with `json()`: link the parsed object, and take token counts
  // from the body when no proxy reported them.
  (response as any).json = async () => {
    const body = await json();
    if (body && typeof body === 'object') {
      Object.defineProperty(body, BODY_KEY, { value: holder, enumerable: false, configurable: true });
      if (!metadata) {
        const tokens = usageOf(body);
        if (tokens) addUsage(usage, tokens, false);
      }
    }
    return body;
  };
  return response;
}
