import { existsSync } from 'node:fs';
import { createStore } from '../store/index.js';
import type { TokenlayStore } from '../store/types.js';

/** Hides a password in a connection URL before it is shown. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

/**
 * Opens the store whose ledger a command reads: `--ledger URL` wins over `--store URL`, which
 * wins over env `TOKENLAY_STORE`. An in-memory store holds nothing a command could read, so it
 * is refused with the fix.
 * @throws an Error when no store is named, or the named one cannot be opened.
 */
export function openLedger(command: string, opts: { store?: string | undefined; ledger?: string | undefined }): TokenlayStore {
  const spec = opts.ledger ?? opts.store ?? (process.env.TOKENLAY_STORE || undefined);
  if (spec === undefined) {
    throw new Error(`${command}: no ledger to read; pass --store sqlite:./.tokenlay/usage.db (the store your app or gateway writes), --ledger URL, or set TOKENLAY_STORE.`);
  }
  if (spec.trim() === 'memory') {
    throw new Error(`${command}: the store "memory" lives inside the app's process and is empty here; point --store at the SQLite file your app writes, e.g. --store sqlite:./.tokenlay/usage.db.`);
  }
  const file = /^sqlite:(?:\/\/)?(.+)$/i.exec(spec.trim())?.[1];
  if (file !== undefined && file !== ':memory:' && !existsSync(file)) {
    throw new Error(`${command}: the ledger file "${file}" does not exist; pass the SQLite file your app or gateway writes (its store option), e.g. --store sqlite:./.tokenlay/usage.db.`);
  }
  try {
    return createStore(spec);
  } catch (err) {
    throw new Error(`${command}: cannot open the ledger "${redactUrl(spec)}": ${(err as Error).message.replace(/^tokenlay: /, '')}`);
  }
}
