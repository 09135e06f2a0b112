import { openPostgresBillingLedger } from './postgres-ledger.js';
import { openSqliteBillingLedger } from './sqlite-ledger.js';
import type { BillingLedger } from './types.js';

/**
 * Opens the billing view of the ledger a store URL names: `sqlite:<path>` or `postgres://…`
 * (`?schema=` picks the schema, default `public`). The cursors live in that same store.
 * @throws an Error naming the URL (password hidden) and the stores billing reads.
 */
export async function openBillingLedger(spec: string): Promise<BillingLedger> {
  const url = spec.trim();
  const sqlite = /^sqlite:(?:\/\/)?(.+)$/i.exec(url)?.[1];
  if (sqlite !== undefined) {
    if (sqlite === ':memory:') throw new Error(`billing reads a ledger another process wrote; "${url}" is in memory. Point --store at the SQLite file your app or gateway writes.`);
    return openSqliteBillingLedger(sqlite);
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? 'public';
    for (const name of ['schema', 'batchSize', 'flushIntervalMs', 'retainMonths']) parsed.searchParams.delete(name);
    return openPostgresBillingLedger(parsed.toString(), schema);
  }
  const shown = url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
  throw new Error(`billing reads the ledger from SQLite (sqlite:./.tokenlay/usage.db) or PostgreSQL (postgres://user:password@host:5432/db); "${shown}" is neither. With a Redis or memory store, give the ledger with --ledger.`);
}
