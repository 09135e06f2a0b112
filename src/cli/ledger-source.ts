import { existsSync } from 'node:fs';
import { DEFAULT_STORE } from '../gateway/defaults.js';
import { createStore } from '../store/index.js';
import { redactUrl } from '../store/redact.js';
import type { TokenlayStore } from '../store/types.js';

/** `--help` lines of the flags that name the ledger a command reads (see {@link openLedger}). */
export const LEDGER_HELP = `  --store URL
        the store your app or gateway writes, e.g. sqlite:./.tokenlay/usage.db
        (default: env TOKENLAY_STORE, else ./.tokenlay/usage.db when it
        exists: the gateway's own)
  --ledger URL
        read the ledger from here instead of --store`;

/**
 * Opens the store whose ledger a command reads: `--ledger URL` wins over `--store URL`, which
 * wins over env `TOKENLAY_STORE`, which wins over the gateway's default `./.tokenlay/usage.db`
 * when that file exists in the working directory. An in-memory store holds nothing a command could read, so it
 * is refused with the fix.
 * @throws an Error when no store is named, or the named one cannot be opened.
 */
export function openLedger(command: string, opts: { store?: string | undefined; ledger?: string | undefined }): TokenlayStore {
  // In the gateway's folder, the gateway's own default ledger, as `tokenlay gateway` writes it.
  const spec = opts.ledger ?? opts.store ?? (process.env.TOKENLAY_STORE || undefined) ?? (existsSync(DEFAULT_STORE.slice('sqlite:'.length)) ? DEFAULT_STORE : undefined);
  if (spec === undefined) {
    throw new Error(`${command}: no ledger to read; pass --store sqlite:./.tokenlay/usage.db (the store your app or gateway writes), --ledger URL, or set TOKENLAY_STORE. Without them, the gateway's default ledger ${DEFAULT_STORE.slice('sqlite:'.length)} is read, and ${process.cwd()} has none: run it in the gateway's folder.`);
  }
  if (spec.trim() === 'memory') {
    throw new Error(`${command}: the store "memory" lives inside the app's process and is empty here; point --store at the SQLite file your app writes, e.g. --store sqlite:./.tokenlay/usage.db.`);
  }
  const file = /^sqlite:(?:\/\/)?(.+)$/i.exec(spec.trim())?.[1];
  if (file !== undefined && file !== ':memory:' && !existsSync(file)) {
    throw new Error(`${command}: the ledger file "${file}" does not exist; pass the SQLite file your app or gateway writes (its store option), e.g. --store sqlite:./.tokenlay/usage.db.`);
  }
  try {
    // A Postgres ledger is read on its own (no counters), without a spool: this command records nothing.
    if (/^postgres(ql)?:\/\//i.test(spec.trim())) return createStore({ store: 'memory', ledger: spec, spoolPath: false });
    return createStore(spec);
  } catch (err) {
    throw new Error(`${command}: cannot open the ledger "${redactUrl(spec)}": ${(err as Error).message.replace(/^tokenlay: /, '')}`);
  }
}
