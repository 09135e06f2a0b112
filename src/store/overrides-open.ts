import { createMemoryOverrideStore, type OverrideStore } from './overrides.js';
import { createPostgresOverrideStore } from './overrides-postgres.js';
import { createSqliteOverrideStore } from './overrides-sqlite.js';

/**
 * Where overrides and credits live for a store and ledger spec: beside a `postgres://` ledger
 * (shared by every instance on it), else in a `sqlite:` store's file, else in memory (one
 * process; a Redis store without a PostgreSQL ledger keeps them in each instance's memory).
 */
export function openOverrideStore(specs: { store?: unknown; ledger?: unknown }): OverrideStore {
  const ledger = typeof specs.ledger === 'string' ? specs.ledger.trim() : undefined;
  if (ledger !== undefined && /^postgres(ql)?:\/\//i.test(ledger)) return createPostgresOverrideStore({ url: ledger });
  for (const spec of [ledger, typeof specs.store === 'string' ? specs.store.trim() : undefined]) {
    if (spec === undefined || !/^sqlite:/i.test(spec)) continue;
    let path = spec.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    // An in-memory SQLite database is private to its connection: memory serves as well.
    if (path === ':memory:') break;
    return createSqliteOverrideStore({ path });
  }
  return createMemoryOverrideStore();
}
