/** What `tokenlay limits` and `tokenlay credits` open: the override store, and for credits the counters and ledger. */
import { userInfo } from 'node:os';
import { DEFAULT_STORE } from '../gateway/defaults.js';
import type { Flag } from './flags.js';
import { redactUrl } from '../store/redact.js';

/** The flags both commands take to find their store. */
export const SOURCE_FLAGS: Flag[] = [
  { name: 'account', value: 'NAME', help: 'the gateway account (key name) the change is for; without it, a limit or a balance applies to every account that has none of its own, and to calls that carry no account (embedded mode)' },
  { name: 'store', value: 'URL', env: 'TOKENLAY_STORE', default: DEFAULT_STORE, help: 'the store your app or gateway uses: overrides and credits live in its sqlite: file' },
  { name: 'ledger', value: 'URL', env: 'TOKENLAY_LEDGER', default: 'none', help: 'with postgres://…, overrides and credits live in that database, shared by every gateway on it' },
];

export interface Source {
  store?: string;
  ledger?: string;
  /** Where, for messages (password redacted). */
  where: string;
}

/** The store and ledger specs from the flags. @throws an Error naming the fix for `memory`, which nothing outside the app can reach. */
export function sourceOf(command: string, values: Record<string, string | string[] | undefined>): Source {
  const ledger = values.ledger as string | undefined;
  const store = (values.store as string | undefined) ?? DEFAULT_STORE;
  const pg = ledger !== undefined && /^postgres(ql)?:\/\//i.test(ledger.trim());
  if (!pg && !/^sqlite:/i.test(store.trim())) {
    throw new Error(
      `tokenlay ${command}: overrides and credits are kept in a SQLite store or a PostgreSQL ledger; "${redactUrl(store)}" is neither. Pass --store sqlite:./.tokenlay/usage.db (the file your app or gateway uses) or --ledger postgres://user:password@host:5432/db.`,
    );
  }
  return { store, ...(ledger === undefined ? {} : { ledger }), where: pg ? `the Postgres ledger ${redactUrl(ledger!)}` : redactUrl(store) };
}

/** Who made a change from the command line, for the audit list. */
export function cliUser(): string {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // No user name (a container without /etc/passwd): the audit says so.
  }
  return `cli:${name}`;
}

/**
 * What `tokenlay limits|credits` prints for an error: a fault of the store itself (a socket error
 * or a database's SQLSTATE, which alone name neither the store nor the flag) says where it was and
 * what to check; anything else (bad input) is its own message.
 */
export function errorMessage(command: string, source: Source | undefined, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (source === undefined || typeof code !== 'string') return message;
  return `tokenlay ${command}: could not reach ${source.where}: ${message} (${code}). Check that it is running and that --store / --ledger (TOKENLAY_STORE / TOKENLAY_LEDGER) name the one your app or gateway uses.`;
}
