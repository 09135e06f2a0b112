import { addUsage, type TokenlayUsage } from '../scope/context.js';
import { usageFromJson } from '../metering/usage.js';
import { linkMetadata, metadataFromTrailer, type MetadataHolder } from './metadata.js';
import { TRAILER_PREFIX } from '../protocol/names.js';
import { readReport, readTrailerLine, reportFromHeaderValues, reportHeaderValues, usageFromHeaderValues, usageFromTrailer, type CallReport, type TokenlayMetadata } from '../protocol/report.js';
import { SseLineReader } from '../protocol/sse.js';
import type { ReportSink } from '../engine/types.js';

/**
 * @internal One embedded call's report, handed over by the in-process engine as objects: the
 * report its answer carries, and for a stream the settled one (usage and cost) once the call is
 * settled, also when the stream was cut short. Remote calls read the same from headers and trailer.
 */
export class InProcessReport implements ReportSink {
  answered: CallReport | undefined = undefined;
  settled: CallReport | undefined = undefined;
  private then: ((report: CallReport) => void) | undefined = undefined;

  onReport(report: CallReport): void {
    this.answered = report;
  }

  onSettled(report: CallReport): void {
    this.settled = report;
    this.then?.(report);
  }

  /** Calls `then` with the settled report, now or once it arrives. */
  whenSettled(then: (report: CallReport) => void): void {
    if (this.settled) then(this.settled);
    else this.then = then;
  }
}

/**
 * Where one call's metadata lands. A proxy's report headers are kept as they came and read into
 * metadata only when it is asked for (`getTokenlayMetadata`, a stream's trailer): most calls never are.
 */
class CallHolder implements MetadataHolder {
  ended: boolean;
  private value: TokenlayMetadata | null | undefined;
  /** A stream's trailer, read over the header metadata when asked for. */
  private trailer: Record<string, unknown> | undefined = undefined;

  constructor(
    readonly streaming: boolean,
    metadata: TokenlayMetadata | null | undefined,
    private headerValues: Record<string, string> | null,
  ) {
    this.ended = !streaming;
    this.value = metadata;
  }

  get metadata(): TokenlayMetadata | null {
    if (this.value === undefined) {
      this.value = this.headerValues ? reportFromHeaderValues(this.headerValues) : null;
      this.headerValues = null;
    }
    if (this.trailer) {
      this.value = metadataFromTrailer(this.trailer, this.value);
      this.trailer = undefined;
    }
    return this.value;
  }

  set metadata(metadata: TokenlayMetadata | null) {
    this.value = metadata;
    this.headerValues = null;
    this.trailer = undefined;
  }

  /** A stream's trailer arrived: it says the call's final metadata, over what the headers said. */
  addTrailer(trailer: Record<string, unknown>): void {
    // A second trailer reads over the first, as each did when read at once.
    if (this.trailer) void this.metadata;
    this.trailer = trailer;
  }
}

interface BodyUsage {
  inputTokens: number;
  outputTokens: number;
}

/** Token counts from an OpenAI body or stream event, for answers that came without Tokenlay headers. */
function usageOf(body: any): BodyUsage | undefined {
  // A Responses API stream event carries its usage under `response`.
  return usageFromJson('', body?.usage ? body : body?.response);
}

const LF = 0x0a;
const CR = 0x0d;
const encoder = new TextEncoder();
const DONE_BYTES = encoder.encode('[DONE]');
const TRAILER_BYTES = encoder.encode(TRAILER_PREFIX.trim());
const USAGE_BYTES = encoder.encode('"usage"');

/** Where `needle` starts in `hay` at or after `from`, or -1. Plain bytes: runs where there is no Buffer. */
function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (let i = hay.indexOf(first, from); i !== -1 && i <= last; i = hay.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Whether SSE bytes may hold the trailer, `[DONE]` or a usage object (not `"usage": null`). */
function mayHoldReport(bytes: Uint8Array): boolean {
  if (indexOfBytes(bytes, DONE_BYTES) !== -1 || indexOfBytes(bytes, TRAILER_BYTES) !== -1) return true;
  for (let at = indexOfBytes(bytes, USAGE_BYTES); at !== -1; at = indexOfBytes(bytes, USAGE_BYTES, at + 1)) {
    let i = at + USAGE_BYTES.length;
    while (bytes[i] === 0x20 || bytes[i] === 0x3a) i++; // spaces and the colon
    if (bytes[i] !== 0x6e) return true; // anything but `null`
  }
  return false;
}

/** The usage of the last of these `data:` lines that holds one. */
function lastUsage(lines: string[]): BodyUsage | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const usage = usageOf(JSON.parse(lines[i]!.slice(5)));
      if (usage) return usage;
    } catch {
      // Not JSON: not a usage chunk.
    }
  }
  return undefined;
}

/**
 * Scans an SSE stream for the `: x-tokenlay {json}` trailer (and, failing that, the provider's
 * usage chunk) while passing every byte through untouched. A class, so that a streamed call makes
 * one object and no closures (the build keeps names: a named closure costs a defineProperty).
 */
class TrailerScanner {
  private readonly decoder = new TextDecoder();
  private readonly lines = new SseLineReader();
  /** The last well-formed trailer, whose cost and tokens the roll-up takes. */
  private trailer: Record<string, unknown> | undefined;
  /** The provider's usage lines, read only if no trailer comes (a proxy's stream always has one). */
  private usageLines: string[] | undefined;
  private done = false;
  private finished = false;

  constructor(
    private readonly holder: CallHolder,
    private readonly usage: TokenlayUsage | undefined,
  ) {}

  chunk(bytes: Uint8Array): void {
    // Most chunks are whole lines of content deltas: when nothing is carried over from the last
    // chunk and this one holds none of the markers, there is nothing to decode. (A chunk ending
    // in CR may end a line whose LF comes next: that LF then ends an empty line, as it should.)
    const last = bytes[bytes.length - 1];
    if (this.lines.pending === '' && (last === LF || last === CR) && !mayHoldReport(bytes)) return;
    this.scan(this.decoder.decode(bytes, { stream: true }));
  }

  end(): void {
    this.scan(this.decoder.decode());
    if (!this.done) for (const line of this.lines.end()) this.line(line);
    this.finish();
  }

  /** The stream was cancelled or broke before its end: roll up what was settled, when the engine says. */
  cut(inProcess: InProcessReport | undefined): void {
    const { holder, usage } = this;
    if (holder.ended) return;
    holder.ended = true;
    if (this.trailer || !inProcess) return;
    inProcess.whenSettled((report) => {
      holder.metadata = readReport(report);
      addUsage(usage, holder.metadata, false);
    });
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.holder.ended = true;
    if (this.trailer) addUsage(this.usage, usageFromTrailer(this.trailer), false);
    else if (this.usageLines) {
      const fallback = lastUsage(this.usageLines);
      if (fallback) addUsage(this.usage, fallback, false);
    }
  }

  private line(text: string): void {
    if (this.done) return;
    if (text === 'data: [DONE]' || text === 'data:[DONE]') {
      // The trailer comes before [DONE]. openai 7 stops reading at [DONE] and cancels the body,
      // so the stream's end may never be seen: the call is complete here.
      this.done = true;
    } else if (text.startsWith(TRAILER_PREFIX)) {
      // A malformed trailer leaves the header metadata in place.
      const parsed = readTrailerLine(text);
      if (parsed) {
        this.holder.addTrailer(parsed);
        this.trailer = parsed;
      }
    } else if (text.startsWith('data:') && text.includes('"usage"') && !text.includes('"usage":null')) {
      (this.usageLines ??= []).push(text);
    }
  }

  private scan(text: string): void {
    if (text === '' || this.finished) return;
    for (const line of this.lines.push(text)) this.line(line);
    if (this.done) this.finish();
  }
}

/** Passes a streamed body through the scanner, and tells it when the stream is cut short. */
function observedBody(body: ReadableStream<Uint8Array>, scanner: TrailerScanner, settled: InProcessReport | undefined) {
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

/** Reads a JSON body as it passes, for its usage, and rolls that up once the body has ended. */
function bodyUsageScanner(usage: TokenlayUsage | undefined) {
  const chunks: Uint8Array[] = [];
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      chunks.push(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      const decoder = new TextDecoder();
      let text = '';
      for (const chunk of chunks) text += decoder.decode(chunk, { stream: true });
      text += decoder.decode();
      try {
        const tokens = usageOf(JSON.parse(text));
        if (tokens) addUsage(usage, tokens, false);
      } catch {
        // Not JSON: nothing to roll up, and the SDK reports the parse error itself.
      }
    },
  });
}

/** The same answer with another body or headers; keeps `url`, which the SDK logs. */
function reissue(response: Response, body: ReadableStream<Uint8Array> | null, headers: Headers): Response {
  const copy = new Response(body, { status: response.status, statusText: response.statusText, headers });
  if (response.url) Object.defineProperty(copy, 'url', { value: response.url });
  return copy;
}

/**
 * @internal Reads what an answer says about the call, rolls it up on the request scope, and links
 * it so that `getTokenlayMetadata` finds it from the `Response`, or a `Stream` through the abort
 * signal fetch was given. `TokenlayOpenAI` links the body the SDK parses from this `Response` to
 * the same metadata. Token counts of an answer without Tokenlay headers are read from the body as
 * it streams past, never by replacing the response's methods.
 */
export function observeResponse(response: Response, usage: TokenlayUsage | undefined, signal?: AbortSignal | null, inProcess?: InProcessReport): Response {
  // Embedded: the engine handed its report over as an object; remote: its headers say it.
  const answered = inProcess?.answered;
  const headers = response.headers;
  const headerValues = inProcess ? null : reportHeaderValues(headers);
  const hasMetadata = answered !== undefined || headerValues !== null;
  const contentType = headers.get('content-type') ?? '';
  const streaming = contentType.includes('text/event-stream');
  const holder = new CallHolder(streaming, answered ? readReport(answered) : headerValues ? undefined : null, headerValues);
  // A streamed call's `Stream` is found through the abort signal fetch was given; other answers
  // through the response. (A WeakMap entry per call is not free.)
  if (signal && streaming) linkMetadata(signal, holder);
  if (!response.ok) {
    linkMetadata(response, holder);
    return response;
  }
  // The call counts once it is answered; a stream's cost and tokens arrive with its trailer.
  if (streaming) addUsage(usage, {});
  else if (headerValues) addUsage(usage, usageFromHeaderValues(headerValues));
  else addUsage(usage, holder.metadata ?? {});

  if (streaming && response.body) {
    const observed = reissue(response, observedBody(response.body, new TrailerScanner(holder, usage), inProcess), headers);
    linkMetadata(observed, holder);
    return observed;
  }

  const scanBody = !hasMetadata && response.body !== null && contentType.includes('json');
  const observed = scanBody ? reissue(response, response.body!.pipeThrough(bodyUsageScanner(usage)), headers) : response;
  linkMetadata(observed, holder);
  return observed;
}
