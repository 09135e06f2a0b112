/**
 * The per-call report of docs/protocol.md §2: its writer (the engine and the gateway set it as
 * `x-tokenlay-*` headers, and as the `: x-tokenlay {json}` trailer of a stream) and its reader
 * (the client turns either back into {@link TokenlayMetadata}).
 */
import { decodeHeaderValue, encodeHeaderValue } from './headers.js';
import { HEADER_PREFIX, REPORT_HEADERS, TRAILER_PREFIX } from './names.js';

/** What the engine reports about a call, as written on the wire. */
export interface CallReport {
  ruleId: string | null;
  ruleAction: 'allow' | 'block' | 'warn' | 'queue';
  limitExceeded: boolean;
  /** USD. */
  cost: number;
  inputTokens: number;
  outputTokens: number;
  /** ms spent by the proxy and the provider. */
  durationMs: number;
  warnings: string[];
  /** Set when a rule, downgrade or fallback changed the model. */
  model?: string | undefined;
  /** Output tokens (one choice) the call was sent with when a cost or token limit lowered it. */
  outputLimit?: number | undefined;
  /** What is left of the call's tightest limit after it (its unit: USD for cost), and which limit. */
  budget?: { remaining: number; type: string; window: string } | undefined;
}

/** What a Tokenlay proxy (or the embedded engine) answered about one call, with the official SDK's names. */
export interface TokenlayMetadata {
  /** The rule that matched, if any. */
  ruleId?: string;
  ruleAction: 'allow' | 'block' | 'warn' | 'queue';
  limitExceeded: boolean;
  /** Cost of this call in USD. */
  cost: number;
  tokensUsed: number;
  inputTokens: number;
  outputTokens: number;
  /** Milliseconds spent by the proxy and the provider. */
  duration: number;
  warnings?: string[];
  /** The model actually used, when a rule changed it. */
  model?: string;
  /**
   * The output limit (tokens, one choice) the proxy sent the call with, when a cost or token limit
   * had less room than the call's worst case and lowered it (`x-tokenlay-output-limit`). A warning says which.
   */
  outputLimit?: number;
  /**
   * What is left of the call's tightest limit once it was counted (`x-tokenlay-budget-remaining`,
   * ext): USD for a cost limit, tokens or calls otherwise. The tightest limit is the one with the
   * smallest share of its max left, rules' limits and run budgets alike. Absent when no limit applies.
   */
  budgetRemaining?: number;
  /** Which limit `budgetRemaining` speaks of: `<type>/<window>`, e.g. `cost/month`, `requests/last_24h`, `cost/run` (`x-tokenlay-budget-limit`). */
  budgetLimit?: string;
}

/** A report with nothing decided and nothing spent. */
export function blankReport(): CallReport {
  return { ruleId: null, ruleAction: 'allow', limitExceeded: false, cost: 0, inputTokens: 0, outputTokens: 0, durationMs: 0, warnings: [] };
}

/**
 * A decimal without exponent, e.g. `0.0000015`, so every reader parses it (docs/protocol.md §2).
 * `toFixed` itself writes an exponent from 1e21 up; a value that is not a finite amount from 0 is `0`.
 */
export function formatDecimal(value: number): string {
  if (!(value > 0) || !Number.isFinite(value)) return '0';
  if (value >= 1e21) return BigInt(Math.round(value)).toString();
  return value.toFixed(12).replace(/\.?0+$/, '');
}

/**
 * Writes a report as `x-tokenlay-*` headers (§2); usage headers only when `withUsage`. Text (rule
 * id, warnings, model) is percent-encoded as §1 encodes field values, so that no rule description,
 * user name or model name can make a header unsendable.
 */
export function writeReportHeaders(headers: Headers, report: CallReport, withUsage = true): void {
  if (report.ruleId !== null) headers.set(REPORT_HEADERS.ruleId, encodeHeaderValue(report.ruleId));
  headers.set(REPORT_HEADERS.ruleAction, report.ruleAction);
  headers.set(REPORT_HEADERS.limitExceeded, String(report.limitExceeded));
  if (withUsage) {
    headers.set(REPORT_HEADERS.cost, formatDecimal(report.cost));
    headers.set(REPORT_HEADERS.tokensUsed, String(report.inputTokens + report.outputTokens));
    headers.set(REPORT_HEADERS.inputTokens, String(report.inputTokens));
    headers.set(REPORT_HEADERS.outputTokens, String(report.outputTokens));
  }
  headers.set(REPORT_HEADERS.duration, String(Math.round(report.durationMs)));
  if (report.warnings.length > 0) headers.set(REPORT_HEADERS.warnings, encodeHeaderValue(JSON.stringify(report.warnings)));
  if (report.model !== undefined) headers.set(REPORT_HEADERS.model, encodeHeaderValue(report.model));
  if (report.outputLimit !== undefined) headers.set(REPORT_HEADERS.outputLimit, String(report.outputLimit));
  if (report.budget !== undefined) {
    headers.set(REPORT_HEADERS.budgetRemaining, formatDecimal(report.budget.remaining));
    headers.set(REPORT_HEADERS.budgetLimit, encodeHeaderValue(`${report.budget.type}/${report.budget.window}`));
  }
}

/** The report as the trailer's snake_case object (§2). */
export function reportTrailer(report: CallReport): Record<string, unknown> {
  const trailer: Record<string, unknown> = {
    rule_id: report.ruleId,
    rule_action: report.ruleAction,
    limit_exceeded: report.limitExceeded,
    cost: Number(formatDecimal(report.cost)),
    tokens_used: report.inputTokens + report.outputTokens,
    input_tokens: report.inputTokens,
    output_tokens: report.outputTokens,
    duration: Math.round(report.durationMs),
    warnings: report.warnings,
  };
  if (report.model !== undefined) trailer.model = report.model;
  if (report.outputLimit !== undefined) trailer.output_limit = report.outputLimit;
  if (report.budget !== undefined) {
    trailer.budget_remaining = Number(formatDecimal(report.budget.remaining));
    trailer.budget_limit = `${report.budget.type}/${report.budget.window}`;
  }
  return trailer;
}

/** The whole trailer event, `: x-tokenlay {json}` and a blank line, written just before `data: [DONE]`. */
export function writeTrailer(report: CallReport): string {
  // JSON.stringify writes a number below 1e-6 with an exponent (`1e-7`): the cost goes in first,
  // as its decimal text.
  const json = JSON.stringify({ cost: 0, ...reportTrailer(report) }).replace(/^\{"cost":[^,}]*/, `{"cost":${formatDecimal(report.cost)}`);
  return `${TRAILER_PREFIX}${json}\n\n`;
}

/** The trailer's object when `line` is a trailer line, else undefined (also for malformed JSON). */
export function readTrailerLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith(TRAILER_PREFIX)) return undefined;
  try {
    const parsed: unknown = JSON.parse(line.slice(TRAILER_PREFIX.length));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const ACTIONS = new Set(['allow', 'block', 'warn', 'queue']);

function num(value: unknown): number {
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value ?? ''));
  return Number.isFinite(n) ? n : 0;
}

function warningsOf(value: unknown): string[] | undefined {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const parsed = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.map(String) : [String(parsed)];
  } catch {
    return [value];
  }
}

function build(get: (name: string) => unknown): TokenlayMetadata {
  const action = String(get('rule_action') ?? 'allow');
  const input = num(get('input_tokens'));
  const output = num(get('output_tokens'));
  const used = get('tokens_used');
  const metadata: TokenlayMetadata = {
    ruleAction: (ACTIONS.has(action) ? action : 'allow') as TokenlayMetadata['ruleAction'],
    limitExceeded: String(get('limit_exceeded')) === 'true',
    cost: num(get('cost')),
    tokensUsed: used === undefined || used === null ? input + output : num(used),
    inputTokens: input,
    outputTokens: output,
    duration: num(get('duration')),
  };
  const ruleId = get('rule_id');
  if (ruleId !== undefined && ruleId !== null && ruleId !== '') metadata.ruleId = String(ruleId);
  const warnings = warningsOf(get('warnings'));
  if (warnings) metadata.warnings = warnings;
  const model = get('model');
  if (typeof model === 'string' && model) metadata.model = model;
  const outputLimit = get('output_limit');
  if (outputLimit !== undefined && outputLimit !== null && outputLimit !== '' && num(outputLimit) > 0) metadata.outputLimit = num(outputLimit);
  const remaining = get('budget_remaining');
  if (remaining !== undefined && remaining !== null && remaining !== '' && Number.isFinite(Number(remaining))) metadata.budgetRemaining = Number(remaining);
  const budgetLimit = get('budget_limit');
  if (typeof budgetLimit === 'string' && budgetLimit) metadata.budgetLimit = budgetLimit;
  return metadata;
}

// `rule_id` → `x-tokenlay-rule-id`, made once rather than per call.
const HEADER_OF: Record<string, string> = Object.fromEntries(
  Object.values(REPORT_HEADERS).map((header) => [header.slice(HEADER_PREFIX.length).replace(/-/g, '_'), header]),
);

/** Reads the report from answer headers (decoding their text), or `null` when there are no `x-tokenlay-*` headers. */
export function readReportHeaders(headers: Headers): TokenlayMetadata | null {
  const values = reportHeaderValues(headers);
  return values ? reportFromHeaderValues(values) : null;
}

/**
 * The report headers of an answer as they came (snake_case keys, text not decoded), or `null`
 * when there are no `x-tokenlay-*` headers; {@link reportFromHeaderValues} reads them.
 */
export function reportHeaderValues(headers: Headers): Record<string, string> | null {
  // Read by name: Headers.forEach sorts every header, and this runs on every answered call.
  const values: Record<string, string> = {};
  let any = false;
  for (const key in HEADER_OF) {
    const value = headers.get(HEADER_OF[key]!);
    if (value === null) continue;
    values[key] = value;
    any = true;
  }
  return any || hasTokenlayHeader(headers) ? values : null;
}

/** The report of {@link reportHeaderValues}' record. */
export function reportFromHeaderValues(values: Record<string, string>): TokenlayMetadata {
  return build((key) => (values[key] === undefined ? undefined : decodeHeaderValue(values[key])));
}

/** Cost and tokens from {@link reportHeaderValues}' record, as the full report reads them. */
export function usageFromHeaderValues(values: Record<string, string>): { cost: number; inputTokens: number; outputTokens: number } {
  return { cost: numAt(values, 'cost'), inputTokens: numAt(values, 'input_tokens'), outputTokens: numAt(values, 'output_tokens') };
}

/** Cost and tokens of a stream's trailer object, as the full report reads them. */
export function usageFromTrailer(trailer: Record<string, unknown>): { cost: number; inputTokens: number; outputTokens: number } {
  return { cost: num(trailer.cost), inputTokens: num(trailer.input_tokens), outputTokens: num(trailer.output_tokens) };
}

function numAt(values: Record<string, string>, key: string): number {
  const value = values[key];
  return num(value === undefined ? undefined : decodeHeaderValue(value));
}

function hasTokenlayHeader(headers: Headers): boolean {
  let found = false;
  headers.forEach((_value, name) => {
    if (name.startsWith(HEADER_PREFIX)) found = true;
  });
  return found;
}

function headerView(m: TokenlayMetadata, key: string): unknown {
  switch (key) {
    case 'rule_id':
      return m.ruleId;
    case 'rule_action':
      return m.ruleAction;
    case 'limit_exceeded':
      return m.limitExceeded;
    case 'warnings':
      return m.warnings;
    case 'model':
      return m.model;
    case 'output_limit':
      return m.outputLimit;
    case 'budget_remaining':
      return m.budgetRemaining;
    case 'budget_limit':
      return m.budgetLimit;
    default:
      return undefined;
  }
}

/** Reads a stream's trailer object, over what its headers said. */
export function readReportTrailer(trailer: Record<string, unknown>, fromHeaders: TokenlayMetadata | null): TokenlayMetadata {
  return build((key) => trailer[key] ?? (fromHeaders ? headerView(fromHeaders, key) : undefined));
}

/**
 * Reads a report handed over as an object, in-process (embedded mode): the same fields as the
 * headers and trailer give a remote client, without writing and parsing them.
 */
export function readReport(report: CallReport): TokenlayMetadata {
  const trailer = reportTrailer(report);
  // As the headers say it: no warnings header when there are none.
  if (report.warnings.length === 0) delete trailer.warnings;
  return build((key) => trailer[key]);
}
