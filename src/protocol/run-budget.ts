/**
 * The run budgets of a call on the wire (docs/protocol.md §1, ext): `x-tokenlay-run-budget`, one
 * entry per run the call is made in, outer first: `<run id>;cost=0.5;tokens=20000`. A run id is
 * 1 to 64 characters of `[A-Za-z0-9_-]`; amounts are positive decimals (cost in USD, tokens and
 * requests whole). A proxy that does not know the header reads it as a field it never matches.
 */

/** The caps of one run: USD, tokens and calls, any of them. */
export interface RunCaps {
  /** USD for all calls of the run together. */
  cost?: number;
  /** Input and output tokens of all calls together. */
  tokens?: number;
  /** Calls answered or in flight. */
  requests?: number;
}

/** One run a call belongs to: its id (unique per run) and its caps. */
export interface RunBudget extends RunCaps {
  id: string;
}

export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const CAP_NAMES = ['cost', 'tokens', 'requests'] as const;
/** Runs one call may carry: nesting deeper than this is a mistake, not a budget. */
export const MAX_RUNS = 8;

/** The problem with a run's caps, or undefined when they can be sent. */
export function runCapsProblem(caps: unknown): string | undefined {
  if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) return `expected { cost?, tokens?, requests? }, got ${JSON.stringify(caps)}`;
  const entries = Object.entries(caps as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return 'give at least one of cost (USD), tokens or requests, e.g. { cost: 0.5 }';
  for (const [name, value] of entries) {
    if (!(CAP_NAMES as readonly string[]).includes(name)) return `unknown cap "${name}"; expected cost (USD), tokens or requests`;
    const whole = name !== 'cost';
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (whole && !Number.isInteger(value))) {
      return `${name} must be a positive ${whole ? 'integer' : 'number (USD)'}, got ${JSON.stringify(value)}`;
    }
  }
  return undefined;
}

/** The header value for a list of runs, outer first. */
export function formatRunBudgets(runs: readonly RunBudget[]): string {
  return runs
    .map((r) => [r.id, ...CAP_NAMES.filter((n) => r[n] !== undefined).map((n) => `${n}=${r[n]}`)].join(';'))
    .join(', ');
}

/**
 * Reads the header. Returns the runs, or a message saying what is wrong with the value (a proxy
 * answers it 400: a cap that cannot be read must not be ignored).
 */
export function parseRunBudgets(value: string | null | undefined): { runs: RunBudget[] } | { problem: string } {
  if (value === null || value === undefined || value.trim() === '') return { runs: [] };
  const runs: RunBudget[] = [];
  for (const entry of value.split(',')) {
    const [id, ...caps] = entry.trim().split(';').map((s) => s.trim());
    if (!id || !RUN_ID_PATTERN.test(id)) return { problem: `run id ${JSON.stringify(id?.slice(0, 80))} is not 1 to 64 characters of [A-Za-z0-9_-]` };
    const run: RunBudget = { id };
    const given: Record<string, number | string> = {};
    for (const cap of caps) {
      const [name, amount] = cap.split('=');
      // Text that is not a decimal stays text, so the refusal quotes what was sent.
      given[name!] = /^\d+(\.\d+)?$/.test(amount ?? '') ? Number(amount) : (amount ?? '');
    }
    const problem = runCapsProblem(given);
    if (problem) return { problem: `run ${id}: ${problem}` };
    Object.assign(run, given);
    runs.push(run);
  }
  if (runs.length > MAX_RUNS) return { problem: `${runs.length} runs on one call; at most ${MAX_RUNS} may nest` };
  return { runs };
}
